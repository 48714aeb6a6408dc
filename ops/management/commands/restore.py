"""`manage.py restore [BACKUP] --into SCRATCH`: restore a backup (default: the newest)
into a separate database (PostgreSQL: a database name on the same server, created if
missing, refused if it holds tables) or file (SQLite), never the live one. A bad
checksum, an unsafe target or a failed restore is one line and exit 1."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from config.commands import ConcordCommand
from ops.backups import newest_backup, restore
from ops.exceptions import OpsError


class Command(ConcordCommand):
    help = "Restore a backup into a separate database or file (never the live one)."

    def add_arguments(self, parser):
        parser.add_argument("backup", nargs="?", type=Path, help="Default: the newest backup.")
        parser.add_argument(
            "--into",
            required=True,
            help="The target: a database name (PostgreSQL) or a file path (SQLite).",
        )
        parser.add_argument(
            "--to",
            help="A point in time: needs pgBackRest's WAL archive (not set up yet).",
        )

    def handle(self, *args, **options):
        if options["to"]:
            raise CommandError(
                "point-in-time restore needs pgBackRest (not set up yet): restore a"
                " logical backup without --to",
                returncode=2,
            )
        try:
            path = options["backup"] or newest_backup()
            restored = restore(path, into=options["into"])
        except OpsError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            f"restored {restored.backup.name} into {restored.target} in {restored.seconds:.1f} s"
        )

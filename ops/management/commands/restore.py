"""`manage.py restore [BACKUP] --into SCRATCH`: restore a backup (default: the newest)
into a separate database (PostgreSQL: a database name on the same server, created if
missing, refused if it holds tables) or file (SQLite), never the live one.
`manage.py restore --to TIME --into DIR`: point-in-time restore from pgBackRest into a
new, empty data directory (PGBACKREST_CONFIG), to be started on another port. A bad
checksum, an unsafe target or a failed restore is one line and exit 1."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from config.commands import ConcordCommand
from ops import physical
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
            help="A point in time with its offset ('2026-12-06 10:15:00+00'), from"
            " pgBackRest's WAL archive (PGBACKREST_CONFIG).",
        )

    def handle(self, *args, **options):
        if options["to"]:
            return self.point_in_time(options["to"], options["into"])
        try:
            path = options["backup"] or newest_backup()
            restored = restore(path, into=options["into"])
        except OpsError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            f"restored {restored.backup.name} into {restored.target} in {restored.seconds:.1f} s"
        )

    def point_in_time(self, to: str, into: str) -> None:
        if not settings.PGBACKREST_CONFIG:
            raise CommandError(
                "point-in-time restore needs PGBACKREST_CONFIG (docs/OPERATIONS.md)",
                returncode=2,
            )
        when = parse_datetime(to.strip())
        if when is None or when.tzinfo is None:
            raise CommandError(
                f"--to {to!r} is not a time with an offset (2026-12-06 10:15:00+00)",
                returncode=2,
            )
        try:
            path = physical.restore(
                Path(settings.PGBACKREST_CONFIG),
                settings.PGBACKREST_STANZA,
                into=Path(into),
                to=when,
            )
        except OpsError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            f"restored to {when.isoformat(sep=' ')} into {path}:"
            f" start it with pg_ctl -D {path} -o '-p <another port>'"
        )

"""`manage.py backup --logical`: a checksummed logical backup of the live database
(pg_dump -Fc on PostgreSQL, the online backup API on SQLite) into BACKUP_DIR, recorded
as a BackupRun, then retention applied. Exit 0 written, 1 failed (one line), 2 bad use."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from config.commands import ConcordCommand
from ops.backups import backup
from ops.exceptions import OpsError


class Command(ConcordCommand):
    help = "Back up the live database (logical: pg_dump -Fc or SQLite's backup API)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--logical",
            action="store_true",
            help="A logical backup (the only kind until pgBackRest is set up; see"
            " docs/OPERATIONS.md).",
        )
        parser.add_argument("--dir", type=Path, help="Where to write it (default BACKUP_DIR).")

    def handle(self, *args, **options):
        if not options["logical"]:
            raise CommandError(
                "physical backups (pgBackRest) are not set up yet: use --logical", returncode=2
            )
        try:
            run = backup(options["dir"])
        except OpsError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            f"backup: {run.path} ({run.size_bytes:,} bytes, {run.seconds:.1f} s,"
            f" sha256 {run.sha256[:12]}…)"
        )

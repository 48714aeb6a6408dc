"""`manage.py backup --logical`: a checksummed logical backup of the live database
(pg_dump -Fc on PostgreSQL, the online backup API on SQLite) into BACKUP_DIR, recorded
as a BackupRun, then retention applied. `manage.py backup [--type full|diff|incr]`: a
physical backup with pgBackRest (PGBACKREST_CONFIG; ops.physical). Exit 0 written,
1 failed (one line), 2 bad use."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from config.commands import ConcordCommand
from ops import physical
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
        parser.add_argument(
            "--type",
            choices=physical.TYPES,
            default="full",
            help="A physical backup's type (pgBackRest).",
        )

    def handle(self, *args, **options):
        if not options["logical"] and not settings.PGBACKREST_CONFIG:
            raise CommandError(
                "physical backups need PGBACKREST_CONFIG (docs/OPERATIONS.md): use --logical",
                returncode=2,
            )
        try:
            if options["logical"]:
                run = backup(options["dir"])
            else:
                run = physical.backup(
                    Path(settings.PGBACKREST_CONFIG), settings.PGBACKREST_STANZA, options["type"]
                )
                self.stdout.write(
                    f"backup: pgBackRest {options['type']} {run.path}"
                    f" ({run.size_bytes:,} bytes stored, {run.seconds:.1f} s)"
                )
                return
        except OpsError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            f"backup: {run.path} ({run.size_bytes:,} bytes, {run.seconds:.1f} s,"
            f" sha256 {run.sha256[:12]}…)"
        )

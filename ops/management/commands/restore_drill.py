"""`manage.py restore_drill [BACKUP]`: restore the newest backup (or BACKUP) into a
scratch target, check it (migrate --check, the integrity report, row counts per table
against the backup's snapshot), drop the scratch target, record a DrillRun. Exit 0
passed; 1 failed (one line saying why; the alert rule `drill_failed` reports it too)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from config.commands import ConcordCommand
from ops.drill import drill
from ops.exceptions import OpsError


class Command(ConcordCommand):
    help = "Restore the newest backup into a scratch target and prove it (DrillRun)."

    def add_arguments(self, parser):
        parser.add_argument("backup", nargs="?", type=Path, help="Default: the newest backup.")

    def handle(self, *args, **options):
        try:
            run = drill(options["backup"])
        except OpsError as exc:  # no backup at all
            raise CommandError(str(exc), returncode=1) from None
        if not run.ok:
            raise CommandError(f"restore drill FAILED: {run.error}", returncode=1)
        counts = run.report.get("row_counts", {})
        self.stdout.write(
            f"restore drill passed: {Path(run.path).name} restored in {run.restore_seconds:.1f} s,"
            f" {counts.get('tables', 0)} tables"
            + (" (row counts match the backup)" if counts.get("compared") else "")
        )

"""`manage.py restore_drill [BACKUP]`: restore the newest logical backup (or BACKUP) into
a scratch target, check it (migrate --check, the integrity report, row counts per table
against the backup's snapshot), drop the scratch target, record a DrillRun.
`manage.py restore_drill --physical [--database NAME]`: the same for the pgBackRest
repository (PGBACKREST_CONFIG; ops.physical_drill): verify, restore to a fresh restore
point into a scratch cluster on another port, check, compare, remove. Exit 0 passed;
1 failed (one line saying why; the alert rule `drill_failed` reports it too); 2 bad use."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from config.commands import ConcordCommand
from ops.drill import drill
from ops.exceptions import OpsError


class Command(ConcordCommand):
    help = "Restore the newest backup into a scratch target and prove it (DrillRun)."

    def add_arguments(self, parser):
        parser.add_argument("backup", nargs="?", type=Path, help="Default: the newest backup.")
        parser.add_argument(
            "--physical", action="store_true", help="Drill the pgBackRest repository."
        )
        parser.add_argument(
            "--database", help="With --physical: the database to check (default Concord's)."
        )

    def handle(self, *args, **options):
        if options["physical"]:
            run = self.physical(options["database"])
        else:
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

    def physical(self, database):
        from ops.physical_drill import physical_drill

        if not settings.PGBACKREST_CONFIG:
            raise CommandError(
                "--physical needs PGBACKREST_CONFIG (docs/OPERATIONS.md)", returncode=2
            )
        return physical_drill(
            Path(settings.PGBACKREST_CONFIG), settings.PGBACKREST_STANZA, database
        )

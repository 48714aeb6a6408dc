"""`manage.py rollup --from 2026-11-01 --to 2026-12-06`: rebuild the rollups of a range
of days (and of the last 48 hours within it) from the source rows. Idempotent; each day
is one transaction. Bad arguments: one line, exit 2."""

from __future__ import annotations

import time
from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone
from rich.progress import Progress

from analytics.actions import rebuild_days
from analytics.exceptions import BadRange
from config.commands import ConcordCommand


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {text}", returncode=2) from None


class Command(ConcordCommand):
    help = "Rebuild the analytics rollups for a range of days (UTC), from the source rows."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="First day.")
        parser.add_argument(
            "--to", dest="last", metavar="YYYY-MM-DD", help="Last day (default: today)."
        )

    def handle(self, *args, first: str | None, last: str | None, **options):
        if first is None:
            raise CommandError("--from YYYY-MM-DD is required", returncode=2)
        first_day = _day(first)
        last_day = _day(last) if last else timezone.now().date()
        started = time.perf_counter()
        total = (last_day - first_day).days + 1
        try:
            with Progress(transient=True, disable=not self.stdout.isatty()) as bar:
                task = bar.add_task("rollup", total=max(total, 0))
                written = rebuild_days(first_day, last_day, progress=lambda day: bar.advance(task))
        except BadRange as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(
            f"rolled up {total} days ({first_day} .. {last_day}): {written} rows"
            f" in {time.perf_counter() - started:.1f} s"
        )

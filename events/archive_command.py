"""What `archive_events` and `archive_activity_days` share: `--older-than AGE --to DIR`,
one readable line on a bad argument or a refusal, a line per file written."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from config.commands import ConcordCommand
from events.archive import parse_age


class ArchiveCommand(ConcordCommand):
    age_setting: str  # the setting holding the default age in days
    unit: str  # what a row is, in the report ("events", "days")
    refusals: tuple[type[Exception], ...] = ()

    def archive(self, age, folder: Path) -> list:
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            default=f"{getattr(settings, self.age_setting)}d",
            help=f"age: 365d, 52w, 12h (default {self.age_setting})",
        )
        parser.add_argument(
            "--to",
            default=settings.RETENTION_ARCHIVE_DIR,
            help="the archive folder (default RETENTION_ARCHIVE_DIR)",
        )

    def handle(self, *args, **options):
        try:
            age = parse_age(options["older_than"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not options["to"]:
            raise CommandError("say where the files go: --to DIR (or set RETENTION_ARCHIVE_DIR)")
        try:
            written = self.archive(age, Path(options["to"]))
        except (*self.refusals, OSError) as exc:
            raise CommandError(str(exc)) from None
        for done in written:
            self.stdout.write(f"{done.file}: {done.rows} {self.unit}, sha256 {done.sha256}")
        self.stdout.write(f"archived {sum(w.rows for w in written)} {self.total}")

    @property
    def total(self) -> str:
        return self.unit

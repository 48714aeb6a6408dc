"""`manage.py archive_activity_days --older-than 365d --to DIR`: move old activity days
before each member's current streak to checksummed files (ledger/archive.py;
docs/OPERATIONS.md, "Retention")."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from config.commands import ConcordCommand
from events.archive import parse_age
from events.exceptions import EventsError
from ledger.archive import archive_activity_days
from ledger.exceptions import LedgerError


class Command(ConcordCommand):
    help = "Archive activity days older than an age to gzip'd JSON-lines files, then remove them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            default=f"{settings.RETENTION_ACTIVITY_DAYS}d",
            help="age: 365d, 52w, 12h (default RETENTION_ACTIVITY_DAYS)",
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
            written = archive_activity_days(age, Path(options["to"]))
        except (EventsError, LedgerError, OSError) as exc:
            raise CommandError(str(exc)) from None
        for done in written:
            self.stdout.write(f"{done.file}: {done.rows} days, sha256 {done.sha256}")
        self.stdout.write(f"archived {sum(w.rows for w in written)} activity days")

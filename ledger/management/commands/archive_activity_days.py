"""`manage.py archive_activity_days --older-than 365d --to DIR`: move old activity days
before each member's current streak to checksummed files (ledger/archive.py;
docs/OPERATIONS.md, "Retention")."""

from __future__ import annotations

from events.archive_command import ArchiveCommand
from events.exceptions import EventsError
from ledger.archive import archive_activity_days
from ledger.exceptions import LedgerError


class Command(ArchiveCommand):
    help = "Archive activity days older than an age to gzip'd JSON-lines files, then remove them."
    age_setting = "RETENTION_ACTIVITY_DAYS"
    unit = "days"
    refusals = (EventsError, LedgerError)

    def archive(self, age, folder):
        return archive_activity_days(age, folder)

    @property
    def total(self) -> str:
        return "activity days"

"""`manage.py archive_events --older-than 365d --to DIR`: move old events the relay has
passed to checksummed files (events/archive.py; docs/OPERATIONS.md, "Retention")."""

from __future__ import annotations

from events.archive import archive_events
from events.archive_command import ArchiveCommand
from events.exceptions import EventsError


class Command(ArchiveCommand):
    help = "Archive events older than an age to gzip'd JSON-lines files, then remove them."
    age_setting = "RETENTION_EVENTS_DAYS"
    unit = "events"
    refusals = (EventsError,)

    def archive(self, age, folder):
        return archive_events(age, folder)

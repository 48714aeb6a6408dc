"""Archiving old activity days to files (retention: docs/OPERATIONS.md, "Retention").

An `ActivityDay` makes `record_activity` idempotent per day and lets a late day recount
the streak (`ledger.achievements._runs`). Days before a member's current run no longer
count for anything but `longest`, which `Streak` keeps (and a recount never lowers), so
days older than the cutoff *and* before the start of the member's current run are
written to `activity-days-<first id>-<last id>.jsonl.gz` (events.archive's writer:
fsync'd, sha256 taken) and then deleted, in one transaction per file that publishes
`ledger.activity_archived` with the file's name and checksum. No balance, posting or
achievement depends on them.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

import events
from events.archive import BATCH, Written, write_jsonl_gz
from ledger import payloads
from ledger.exceptions import ArchiveRaced
from ledger.models import ActivityDay, Streak


def _current_run_starts(member_ids) -> dict[int, date]:
    """member id -> the first day of their current run (days from it on are kept)."""
    return {
        member_id: last_day - timedelta(days=current - 1)
        for member_id, last_day, current in Streak.objects.filter(
            member_id__in=member_ids, last_day__isnull=False
        ).values_list("member_id", "last_day", "current")
    }


def _due(before: date, after_id: int) -> tuple[list[dict], int | None]:
    """The next batch's days to archive, and the last id it looked at (None: no more)."""
    candidates = list(
        ActivityDay.objects.filter(day__lt=before, pk__gt=after_id)
        .order_by("pk")
        .values("id", "member_id", "day")[:BATCH]
    )
    starts = _current_run_starts({row["member_id"] for row in candidates})
    return [row for row in candidates if row["day"] < starts.get(row["member_id"], date.max)], (
        candidates[-1]["id"] if candidates else None
    )


def archive_activity_days(older_than: timedelta, folder: Path, *, today=None, actor=None):
    """Archive the activity days older than `today - older_than` outside each member's
    current run; the files written."""
    before = (today or timezone.localdate()) - older_than
    written: list[Written] = []
    after_id = 0
    while True:
        rows, last_seen = _due(before, after_id)
        if last_seen is None:
            return written
        after_id = last_seen
        if rows:
            written.append(_archive(rows, Path(folder), actor=actor))


def _archive(rows: list[dict], folder: Path, *, actor) -> Written:
    first, last = rows[0]["id"], rows[-1]["id"]
    name = f"activity-days-{first}-{last}.jsonl.gz"
    count, digest = write_jsonl_gz(folder, name, rows)
    try:
        with transaction.atomic():
            # A late day may have joined older days to a current run meanwhile: with
            # the streaks locked, every row must still be before its member's run.
            members = sorted({row["member_id"] for row in rows})
            list(Streak.objects.select_for_update().filter(member_id__in=members).order_by("pk"))
            starts = _current_run_starts(members)
            if any(row["day"] >= starts.get(row["member_id"], date.max) for row in rows):
                raise ArchiveRaced(f"{name}: a streak changed meanwhile; run again")
            deleted, _ = ActivityDay.objects.filter(pk__in=[row["id"] for row in rows]).delete()
            if deleted != count:
                raise ArchiveRaced(f"{name}: wrote {count} days but {deleted} were there")
            events.publish(
                "ledger.activity_archived",
                payloads.activity_archived(rows=count, file=name, sha256=digest),
                actor=actor,
                subject="archive:activity-days",
            )
    except BaseException:
        (folder / name).unlink(missing_ok=True)
        raise
    return Written(name, count, first, last, digest)

"""Archiving old events to files (retention: docs/OPERATIONS.md, "Retention").

`archive_events(older_than, folder)` moves, in batches, the events created before
`now - older_than` that the relay has passed into gzip'd JSON-lines files
(`events-<first seq>-<last seq>.jsonl.gz`, one event a line as the log holds it), each
fsync'd and its sha256 taken before anything is deleted; then, in one transaction per
file, an `Archive` row (range, cutoff, rows, file name, sha256) is written and the
events it covers are deleted. On PostgreSQL the append-only trigger lets exactly those
rows go (covered by an archive, older than its cutoff, passed by the relay) and refuses
every other UPDATE or DELETE; SQLite has no trigger and this module is the rule.

What the log is still needed for stays: nothing the relay has not sent is archived, the
ledger, narrative and tournaments keep their own rows (balances, decisions and counts are
never derived from events), and a stream client replays from the oldest event kept.
`archive_events` publishes `events.archived` for each file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

import events
from config.schedules import parse_age  # noqa: F401  (the archive commands' `--older-than`)
from events import payloads
from events.exceptions import EventsError
from events.models import Archive, Event, RelayPosition
from events.sql import statement

BATCH = 50_000
_DELETE = statement("archive_delete")


@dataclass(frozen=True)
class Written:
    """One file written: its name, how many rows and their range, its sha256."""

    file: str
    rows: int
    first: int
    last: int
    sha256: str


def write_jsonl_gz(folder: Path, name: str, rows) -> tuple[int, str]:
    """Write `rows` (dicts) as gzip'd JSON lines to `folder/name` through a temporary
    file, fsync'd and renamed into place; (rows written, sha256 of the file). An existing
    file of that name is refused (an archive is never overwritten)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        raise EventsError(f"{target} exists already; archives are never overwritten")
    partial = folder / f".{name}.partial"
    count = 0
    with open(partial, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            for row in rows:
                out.write(json.dumps(row, cls=DjangoJSONEncoder, sort_keys=True).encode())
                out.write(b"\n")
                count += 1
        raw.flush()
        os.fsync(raw.fileno())
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()
    os.replace(partial, target)
    return count, digest


def verify(folder: Path, archive: Archive) -> bool:
    """Whether `archive`'s file is in `folder` with the checksum it was written with."""
    path = folder / archive.file
    return path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == archive.sha256


def horizon() -> int:
    """The highest seq archiving may take: what every relay has passed (0: none has run)."""
    return RelayPosition.objects.aggregate(low=Min("seq"))["low"] or 0


def archive_events(
    older_than: timedelta, folder: Path, *, now: datetime | None = None, actor=None
) -> list[Written]:
    """Archive every event created before `now - older_than` at or below the relay's
    position, `BATCH` a file; the files written, oldest first."""
    before = (now or timezone.now()) - older_than
    written = []
    while True:
        done = _archive_batch(before, Path(folder), actor=actor)
        if done is None:
            return written
        written.append(done)


def _archive_batch(before: datetime, folder: Path, *, actor) -> Written | None:
    due = Event.objects.filter(created_at__lt=before, seq__lte=horizon()).order_by("seq")
    seqs = list(due.values_list("seq", flat=True)[:BATCH])
    if not seqs:
        return None
    first, last = seqs[0], seqs[-1]
    chosen = due.filter(seq__lte=last)
    name = f"events-{first}-{last}.jsonl.gz"
    rows, digest = write_jsonl_gz(
        folder,
        name,
        chosen.values("seq", "kind", "actor_id", "subject", "data", "created_at").iterator(),
    )
    try:
        with transaction.atomic():
            _record(before, first, last, rows, name, digest, actor=actor)
    except BaseException:
        (folder / name).unlink(missing_ok=True)  # nothing was archived: no file either
        raise
    return Written(name, rows, first, last, digest)


def _record(before, first: int, last: int, rows: int, name: str, digest: str, *, actor) -> None:
    archive = Archive.objects.create(
        first_seq=first, last_seq=last, before=before, rows=rows, file=name, sha256=digest
    )
    with connection.cursor() as cursor:
        cursor.execute(_DELETE, [archive.pk])
        deleted = cursor.rowcount
    if deleted != rows:
        raise EventsError(f"{name}: wrote {rows} events but {deleted} were due; nothing kept")
    events.publish(
        "events.archived",
        payloads.events_archived(
            first_seq=first, last_seq=last, rows=rows, file=name, sha256=digest
        ),
        actor=actor,
        subject=f"archive:{archive.pk}",
    )

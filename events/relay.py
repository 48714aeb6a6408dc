"""The relay: the one way a committed event reaches the screens.

    commit ─> (writer: notes what it wrote, for read-your-writes; nothing else)
    relay: read events above its position ─> a gap? wait until lower seqs settled ─>
           batch handlers (cache bumps) ─> broadcast ─> write its position

One relay works per database (`manage.py run_relay`, on any host): it holds a PostgreSQL
advisory lock on its own session, and any other relay started on the same database waits
for that lock as a standby, trying every STANDBY_RETRY seconds. When the leader dies its
session ends, the lock goes with it, and a standby takes over from the position the
leader last wrote. The position is written after a broadcast at most every SAVE_EVERY
seconds, and whenever the relay goes idle or stops, so the new leader sends again at most
the dead one's batches of its last SAVE_EVERY seconds (at least once; hubs drop a seq
they delivered).

Order: sequence values are taken at INSERT but commits land in any order. A batch with no
gap (every seq from the position up to its top) goes at once: nothing below its top is
left to commit. A batch with a gap may have a transaction still running below its top, so
the relay waits until every transaction of this database that was running has ended
(`events.live.wait_settled`) and reads the gaps again: what committed meanwhile goes in
the batch, and a seq still missing was rolled back. If a transaction outlives the
wait (SETTLE_TIMEOUT) the relay sends anyway and remembers the seqs missing below the
batch's top as holes, to send any that commits later (for HOLE_TTL seconds).

Embedded defaults (SQLite, in-memory channel layer) run the same loop in a thread of the
serving process (`dashboard.hub`), handing messages straight to its hub, and its batch
handlers bump that process's local-memory cache for writes made by other processes (a
shell, a bot). There is no advisory lock there: one process serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import DatabaseError, connection
from django.db.models import Max
from django.utils import timezone

from events import live
from events.log import run_batch_handlers
from events.models import Event, RelayPosition
from ops.metrics import RELAY_BATCHES

logger = logging.getLogger(__name__)

NAME = "default"  # the position's row: one relay per database
# pg_try_advisory_lock key (advisory locks are per database): "concord" in ASCII.
LOCK_KEY = 0x636F6E636F7264
BATCH = 500
WINDOW = 4 * BATCH  # seqs one read looks ahead (bounded: a stable plan on fresh tables)
FILL_MAX = 200  # missing seqs read by value after a settle; more: the range again
SAVE_EVERY = 0.2  # seconds: the position is written at most this often while busy (and
# whenever the relay goes idle or stops): a relay killed meanwhile is followed by one
# that sends those batches again, and hubs drop the seqs they delivered
BUSY_PAUSE = 0.005  # seconds between batches while events keep coming (fewer, fuller ones)
IDLE_FIRST = 0.005  # seconds: the first sleep when the log has nothing new
IDLE_MAX = 0.05  # ... doubling up to this (the added latency when quiet)
STANDBY_RETRY = 0.5  # seconds between a standby's tries for the lock
FAILURE_FIRST = 0.5  # seconds before retrying a batch that could not be handled or sent
FAILURE_MAX = 5.0
HOLE_TTL = 600.0  # seconds a seq missing after a timed-out settle is watched for
MAX_HOLES = 10_000
STANDBY_LINE = "relay: standby: another relay holds the lock for this database"

Deliver = Callable[[list[dict]], None]


class Relay:
    """Tails the event log by seq for one database. Small steps (`lead`, `start`, `step`,
    `release`) that tests call directly; `run` loops over them until `stop` is set."""

    def __init__(self, *, deliver: Deliver | None = None, embedded: bool = False, out=None) -> None:
        # deliver: where messages go instead of the channel layer (the embedded hub).
        self.deliver = deliver
        self.embedded = embedded
        self.out = out  # where the standby line is written (the command's stdout)
        self.position: int | None = None
        self.settle_timeout = live.SETTLE_TIMEOUT
        self.leading = False
        self.holes: dict[int, float] = {}  # seq -> monotonic time to stop watching it
        self.lock = threading.Lock()  # held while a batch is handed over (embedded hubs)
        self._said_standby = False
        self._saved = None  # the position as last written
        self._saved_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._direct: live.DirectPubSub | None = None
        self._layer = None

    # --- leadership ------------------------------------------------------------------

    def lead(self) -> bool:
        """Take the database's relay lock on this session; False if another relay holds
        it. Always True on SQLite and embedded (one serving process)."""
        if self.embedded or connection.vendor != "postgresql":
            self.leading = True
            return True
        if self.leading:
            return True  # taken already (taking it again would need two unlocks)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            self.leading = bool(cursor.fetchone()[0])
        return self.leading

    def wait_to_lead(self, stop: threading.Event) -> bool:
        """Try for the lock every STANDBY_RETRY seconds until it is ours (True) or `stop`
        is set (False); says once that it waits."""
        while not stop.is_set():
            try:
                if self.lead():
                    return True
            except DatabaseError as exc:
                logger.warning("relay: cannot reach the database (%s); retrying", exc)
                connection.close()
            if not self._said_standby and self.out is not None:
                self.out.write(STANDBY_LINE + "\n")
                self.out.flush()
                self._said_standby = True
            stop.wait(STANDBY_RETRY)
        return False

    def release(self) -> None:
        """Give the lock up (a standby takes over) and close the connection."""
        if self.leading and not self.embedded and connection.vendor == "postgresql":
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
            except DatabaseError:
                pass  # the session is gone, and the lock with it
        self.leading = False
        connection.close()

    # --- the loop ------------------------------------------------------------------

    def start(self) -> int:
        """Read the position (made at the newest seq if there is none: a new log is not
        broadcast from its beginning). Embedded, start at the newest seq: the serving
        process's caches are empty and its clients replay with `after=`."""
        latest = Event.objects.aggregate(top=Max("seq"))["top"] or 0
        stored, _ = RelayPosition.objects.get_or_create(
            name=NAME, defaults={"seq": latest, "moved_at": timezone.now()}
        )
        self.position = max(stored.seq, latest) if self.embedded else stored.seq
        self._saved = stored.seq
        self.save_position()
        return self.position

    def step(self) -> int:
        """One batch: read, settle, handle, broadcast, move the position. Returns how many
        events it sent (0: nothing new). Raises if the handlers or the send failed; the
        position has not moved then, and the same batch is tried again."""
        assert self.position is not None, "start() first"
        late = self._late() if self.holes else []
        batch = self._next(self.position)
        if batch and batch[-1].seq - self.position != len(batch):
            # A gap: a seq below the top may belong to a transaction still running.
            # Wait for those to end, then read what filled the gap (a dense batch has
            # nothing below its top left to commit: it goes at once).
            settled = live.wait_settled(self.settle_timeout)
            top = batch[-1].seq
            batch = self._fill(batch)
            if not settled:
                self._watch_holes(batch, top)
        if not batch and not late:
            return 0
        events = late + batch
        if not run_batch_handlers(events):
            raise HandlerFailed(f"the batch handlers failed for {len(events)} event(s)")
        messages = [live.message_for(event) for event in late]
        prev = self.position
        for event in batch:
            messages.append(live.message_for(event, prev=prev))
            prev = event.seq
        self._send(messages)
        RELAY_BATCHES.inc(len(events))
        if batch:
            self.position = batch[-1].seq
            if time.monotonic() - self._saved_at >= SAVE_EVERY:
                self.save_position()
        return len(events)

    def run(self, stop: threading.Event) -> None:
        """Lead (or wait to), then step until `stop` is set: the batch in hand is finished
        first. Losing the database loses the lock too: it waits to lead again."""
        try:
            while self.wait_to_lead(stop):
                try:
                    self.start()
                    self.serve(stop)
                except DatabaseError as exc:
                    logger.warning("relay: lost the database (%s); taking the lock again", exc)
                    self.leading = False
                    connection.close()
                    stop.wait(FAILURE_FIRST)
                if stop.is_set():
                    break
        finally:
            self.close()

    def serve(self, stop: threading.Event) -> None:
        idle = IDLE_FIRST
        failing = FAILURE_FIRST
        while not stop.is_set():
            try:
                sent = self.step()
            except DatabaseError:
                raise
            except Exception:
                logger.exception("relay: could not send from seq %s; retrying", self.position)
                stop.wait(failing)
                failing = min(failing * 2, FAILURE_MAX)
                continue
            failing = FAILURE_FIRST
            if sent:
                idle = IDLE_FIRST
                if sent < BATCH:
                    stop.wait(BUSY_PAUSE)
                continue
            self.save_position()
            stop.wait(idle)
            idle = min(idle * 2, IDLE_MAX)

    def close(self) -> None:
        if self.leading and self.position is not None:
            # Lost with the database: the next leader sends the batches since again.
            with contextlib.suppress(DatabaseError):
                self.save_position()
        self.release()
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    # --- pieces ----------------------------------------------------------------------

    def _next(self, after: int) -> list[Event]:
        """The first BATCH committed events above `after`. The read is bounded to WINDOW
        seqs (so its plan is an index range scan even on a table the planner thinks is
        empty); past a longer run of rolled-back seqs, the newest seq says where to go."""
        batch = self._read(after, limit=BATCH, upto=after + WINDOW)
        if batch:
            return batch
        newest = Event.objects.aggregate(top=Max("seq"))["top"] or 0
        if newest <= after + WINDOW:
            return []
        return self._read(after, limit=BATCH)

    def _fill(self, batch: list[Event]) -> list[Event]:
        """`batch` with the events that have committed in its gaps since it was read."""
        top = batch[-1].seq
        present = {event.seq for event in batch}
        missing = [seq for seq in range(self.position + 1, top) if seq not in present]
        if len(missing) > FILL_MAX:
            return self._read(self.position, upto=top)
        found = list(Event.objects.filter(seq__in=missing))
        if not found:
            return batch
        return sorted(batch + found, key=lambda event: event.seq)

    def _read(self, after: int, *, limit: int | None = None, upto: int | None = None):
        rows = Event.objects.filter(seq__gt=after).order_by("seq")
        if upto is not None:
            rows = rows.filter(seq__lte=upto)
        return list(rows[:limit] if limit is not None else rows)

    def _watch_holes(self, batch: Sequence[Event], top: int) -> None:
        """The settle timed out: seqs missing in (position, top] may still commit."""
        present = {event.seq for event in batch}
        until = time.monotonic() + HOLE_TTL
        # Newest first: a transaction still running holds a recent seq; a long run of
        # missing seqs far below (rolled back, or a position far behind) is not watched
        # at the cost of those.
        for seq in range(top - 1, self.position, -1):
            if len(self.holes) >= MAX_HOLES:
                break
            if seq not in present:
                self.holes[seq] = until

    def _late(self) -> list[Event]:
        """Events that committed in a hole (below what was sent), now that they have."""
        now = time.monotonic()
        self.holes = {seq: until for seq, until in self.holes.items() if until > now}
        found = list(Event.objects.filter(seq__in=list(self.holes)).order_by("seq"))
        for event in found:
            self.holes.pop(event.seq, None)
        return found

    def _send(self, messages: list[dict]) -> None:
        if self.deliver is not None:
            self.deliver(messages)
            return
        if not live.enabled() or not messages:
            return
        if self._layer is None:
            from channels.layers import get_channel_layer

            self._layer = get_channel_layer()
            self._loop = asyncio.new_event_loop()
            try:
                self._direct = live.DirectPubSub.for_layer(self._layer, self._loop)
            except Exception:
                logger.exception("relay: sending through the channel layer's group_send")
        if self._direct is not None:
            self._direct.send(messages)
        else:
            self._loop.run_until_complete(live.group_send(self._layer, messages))

    def save_position(self) -> None:
        """Write the position if it moved since it was last written."""
        if self.position is None or self.position == self._saved:
            return
        RelayPosition.objects.filter(name=NAME, seq__lt=self.position).update(
            seq=self.position, moved_at=timezone.now()
        )
        self._saved, self._saved_at = self.position, time.monotonic()


class HandlerFailed(Exception):
    """A batch handler (a cache bump) failed: the batch is tried again."""


@dataclass(frozen=True)
class Lag:
    position: int
    behind_events: int
    behind_seconds: float

    def as_dict(self) -> dict:
        return {
            "behind_events": self.behind_events,
            "behind_seconds": round(self.behind_seconds, 1),
            "position": self.position,
        }


def lag() -> Lag:
    """How far the relay is behind the log: seqs above its position (rolled-back ones
    included) and the age of the oldest event it has not sent. No position yet counts
    from 0 (no relay has ever run)."""
    position = RelayPosition.objects.filter(name=NAME).values_list("seq", flat=True).first() or 0
    newest = Event.objects.aggregate(top=Max("seq"))["top"] or 0
    oldest = (
        Event.objects.filter(seq__gt=position)
        .order_by("seq")
        .values_list("created_at", flat=True)
        .first()
    )
    seconds = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
    return Lag(position, max(0, newest - position), max(0.0, seconds))

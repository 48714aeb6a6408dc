"""Broadcasting committed events to the channel layer, and marking them published.

Every committed event goes to one channel-layer group, `GROUP`. Each daphne process
subscribes to it once (the dashboard's hub) and fans events out to its own websockets,
so one event costs one channel-layer message per process, not one per client.

Post-commit callbacks only queue the event; a publisher thread per process takes
whatever has queued as one batch, runs the batched handlers on it (`events.actions.batched`:
the cache bumps, one round trip per batch), sends it, and marks what it sent published in
one UPDATE every MARK_EVERY seconds:
- channels_redis pub/sub (production): one pipelined PUBLISH round trip per batch on a
  connection the thread owns for the life of the process (`DirectPubSub`); another
  Redis layer gets `group_send` on the thread's own event loop.
- the in-memory layer (embedded defaults): it lives in the event loop of this process's
  hub, so the thread schedules the send there (`local_loop`); a process without a hub (a
  second manage.py) only marks the batch, and the server's hub reads it from the log.

Order: on PostgreSQL a batch is sent only once every transaction that was running when
the batch was taken has ended (`wait_settled`), so an event with a lower seq that was
going to commit has committed by the time a higher one is broadcast. The hub uses that
to deliver events in seq order (it reads a gap from the log instead of waiting for it).

A handler or a send that fails leaves its events unpublished: the relay
(`events.tasks.relay`) runs the handlers and sends them again. Receivers drop a seq they
have delivered already.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

import psycopg
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from events import host
from events.models import Event

logger = logging.getLogger(__name__)

GROUP = "concord.events"
MESSAGE_TYPE = "concord.event"
CONTROL_TYPE = "concord.control"
BATCH_LIMIT = 500
SETTLE_TIMEOUT = 2.0  # seconds to wait for running transactions before sending anyway
# Seconds: in a wait longer than this (a transaction left open) the events queued behind
# it are handled meanwhile, so their cache bumps do not wait for the broadcast. Shorter
# waits (up to ~30 ms in a registration rush, where writers queue on one lock) leave them
# to the next batch: one bump round trip per batch, not two.
LONG_WAIT = 0.1
IDLE_CLOSE = 10.0  # the publisher closes its database connection after this long idle
MARK_EVERY = 0.2  # seconds: broadcast events are marked published together, this often
_STOP = object()


def message_for(event: Event) -> dict:
    """The group message for one event (what the hub turns into a stream message)."""
    created = event.created_at
    return {
        "type": MESSAGE_TYPE,
        "seq": event.seq,
        "kind": event.kind,
        "at": created.isoformat().replace("+00:00", "Z") if created else None,
        "subject": event.subject,
        "data": event.data,
    }


def control(action: str, **fields) -> None:
    """Tell every process's hub to act (`reload` a connection, `revoke` a token)."""
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(GROUP, {"type": CONTROL_TYPE, "action": action, **fields})


# Transactions of this database's other backends that hold a transaction id (they wrote,
# e.g. an event) and are still in progress, as 64-bit ids: their 32-bit `backend_xid`
# placed next to the snapshot's xmax, which they are within 2^31 of. pg_current_snapshot()'s
# in-progress list would not do: it spans every database of the server, and leaves out
# transactions whose xid is above the latest completed one. It reads
# pg_stat_get_activity() itself, not the pg_stat_activity view (whose joins to roles and
# databases more than doubled its server CPU), and runs prepared: ~0.1 ms of server CPU
# instead of ~0.3-0.5 ms, once per batch. Usually it is the only query (nothing still
# running); else only their status is polled (pg_xact_status, a commit-log lookup).
_RUNNING_HERE = """
SELECT xid FROM (
    SELECT ref + CASE WHEN d > 2147483648 THEN d - 4294967296
                      WHEN d < -2147483648 THEN d + 4294967296 ELSE d END AS xid
    FROM (
        SELECT s.backend_xid::text::bigint - (next.ref & 4294967295) AS d, next.ref
        FROM pg_stat_get_activity(NULL) AS s,
             (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS ref) AS next
        WHERE s.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND s.backend_xid IS NOT NULL AND s.pid <> pg_backend_pid()
    ) AS running
) AS here
WHERE pg_xact_status(xid::text::xid8) = 'in progress'"""
_STILL_RUNNING = """
SELECT count(*) FROM unnest(%s::bigint[]) AS x
WHERE pg_xact_status(x::text::xid8) = 'in progress'"""


def wait_settled(
    timeout: float = SETTLE_TIMEOUT, while_waiting: Callable[[], None] | None = None
) -> bool:
    """Wait until every transaction of this database running now has ended (PostgreSQL; a
    no-op on SQLite, whose writers run one at a time), so none can still commit an event
    below the ones about to be sent. Transactions of other databases on the server are
    not waited for. False if one still ran after `timeout` seconds. `while_waiting` is
    called between the polls of a long wait (the publisher handles the events queued
    meanwhile)."""
    if connection.vendor != "postgresql":
        return True
    # Prepared (psycopg's own cursor on this connection; Django's never prepares): about
    # half the client CPU, and a third of the server's for the first query, whose
    # planning cost more than running it.
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_RUNNING_HERE, prepare=True)
        running = [row[0] for row in cursor.fetchall()]
        if not running:
            return True
        started = time.monotonic()
        deadline = started + timeout
        delay = 0.001
        while True:
            cursor.execute(_STILL_RUNNING, [running], prepare=True)
            if cursor.fetchone()[0] == 0:
                return True
            if time.monotonic() > deadline:
                logger.warning(
                    "events: a transaction ran for over %.1fs; broadcasting without waiting",
                    timeout,
                )
                return False
            if while_waiting is not None and time.monotonic() - started > LONG_WAIT:
                while_waiting()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def mark_published(seqs: Sequence[int]) -> None:
    if not seqs:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {Event._meta.db_table} SET published_at = %s"
                " WHERE seq = ANY(%s) AND published_at IS NULL",
                [now, list(seqs)],
            )
        else:
            marks = ", ".join(["%s"] * len(seqs))
            cursor.execute(
                f"UPDATE {Event._meta.db_table} SET published_at = %s"
                f" WHERE seq IN ({marks}) AND published_at IS NULL",
                [now, *seqs],
            )


async def _send(layer, events: Iterable[Event]) -> None:
    for event in events:
        await layer.group_send(GROUP, message_for(event))


# The running event loop of this process's hub, when it has one (daphne, runserver,
# tests): the in-memory layer only works inside that loop, so sends are scheduled there.
local_loop: asyncio.AbstractEventLoop | None = None
SEND_TIMEOUT = 5.0


class DirectPubSub:
    """Sends to channels_redis's pub/sub layer without its event loop: a batch is one
    pipelined round trip on a synchronous connection, writing exactly what the layer's
    `group_send` writes (PUBLISH of the layer's own serialization to the channel name the
    layer gives the group). `group_send` cost ~0.3 ms of the writing process's CPU per
    event under load (a loop turn, a lock and a round trip each); a batch costs ~0.1 ms.
    tests/events/test_publisher.py holds the two to the same messages."""

    def __init__(self, layer, client, channel: str) -> None:
        self.layer = layer
        self.client = client
        self.channel = channel

    @classmethod
    def for_layer(cls, layer, loop: asyncio.AbstractEventLoop) -> DirectPubSub | None:
        """For the pub/sub layer on one Redis server (how Concord configures it); None for
        any other layer or setup (sharded, sentinel), which keeps `group_send`."""
        try:
            from channels_redis.pubsub import RedisPubSubChannelLayer
        except ImportError:
            return None
        if not isinstance(layer, RedisPubSubChannelLayer):
            return None
        config = settings.CHANNEL_LAYERS.get(DEFAULT_CHANNEL_LAYER, {}).get("CONFIG", {})
        hosts = config.get("hosts") or []
        if len(hosts) != 1:
            return None
        host = hosts[0] if isinstance(hosts[0], dict) else {"address": hosts[0]}
        if not isinstance(host.get("address"), str) or "master_name" in host:
            return None
        import redis

        options = {k: v for k, v in host.items() if k != "address"}
        options.setdefault("socket_connect_timeout", 2.0)
        options.setdefault("socket_timeout", SEND_TIMEOUT)
        client = redis.Redis.from_url(host["address"], **options)
        return cls(layer, client, loop.run_until_complete(_group_channel(layer)))

    def send(self, events: Sequence[Event]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            pipe.publish(self.channel, self.layer.serialize(message_for(event)))
        pipe.execute()

    def close(self) -> None:
        self.client.close()


async def _group_channel(layer) -> str:
    return layer._get_group_channel_name(GROUP)  # the layer's loop-bound part names it


def _deliver(
    layer,
    events: Sequence[Event],
    loop: asyncio.AbstractEventLoop | None,
    direct: DirectPubSub | None = None,
    while_waiting: Callable[[], None] | None = None,
) -> None:
    """Send `events` to the layer: with `direct` for Redis pub/sub, else on `loop` (a
    private one) for Redis; on the hub's loop for the in-memory layer, or nowhere if this
    process has no hub (nobody here listens; a hub in another process reads the log)."""
    if isinstance(layer, InMemoryChannelLayer):
        target = local_loop
        if target is not None and not target.is_closed():
            # Cancelled: the hub's loop is shutting down, nobody here listens any more.
            with contextlib.suppress(concurrent.futures.CancelledError):
                future = asyncio.run_coroutine_threadsafe(_send(layer, events), target)
                future.result(SEND_TIMEOUT)
        return
    wait_settled(while_waiting=while_waiting)
    if direct is not None:
        direct.send(events)
    elif loop is None:
        async_to_sync(_send)(layer, events)
    else:
        loop.run_until_complete(_send(layer, events))


def send_now(events: Sequence[Event]) -> None:
    """Send `events` (in seq order) and mark them published, in the calling thread (not
    the hub's own loop thread). Raises if the channel layer or the database fails:
    nothing is marked then."""
    if not events:
        return
    events = sorted(events, key=lambda e: e.seq)
    _deliver(get_channel_layer(), events, None)
    mark_published([e.seq for e in events])


class Publisher:
    """A thread with its own event loop that sends queued events in batches."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._pending = 0
        # Events submitted, and those whose batch handlers (the cache bumps) have run:
        # a read in this process waits for the second to reach the first (`wait_handled`).
        self._submitted = 0
        self._handled = 0
        self._idle = threading.Condition(self._lock)
        # The host publisher (`events.host.HostPublisher`) in its own process: told which
        # events were handled and which done, to answer the processes that sent them.
        self.observer = None

    def submit(self, event: Event) -> None:
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                # First use in this process, or a forked child (a Celery worker): threads
                # do not survive fork, so each process starts its own.
                self._queue = queue.SimpleQueue()
                self._pending = 0
                self._submitted = self._handled = 0
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="concord-events-publisher", daemon=True
                )
                self._thread.start()
            self._pending += 1
            self._submitted += 1
        self._queue.put(event)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far has been sent (or given up on), here
        and by the host publisher."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending and self._pid == os.getpid():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return host.link.wait("d", max(0.0, deadline - time.monotonic()))

    def wait_handled(self, timeout: float = 1.0) -> bool:
        """Wait until the batch handlers (`events.actions.batched`: the cache bumps) have run
        for every event this process submitted so far, so that a read after this process's
        own write sees it. At once when nothing is waiting (the usual case: one comparison).
        False if they had not run after `timeout` seconds. Events handed to the host
        publisher are asked after (`events.host.Link.wait`)."""
        deadline = time.monotonic() + timeout
        if not self._wait_handled_here(timeout):
            return False
        return host.link.wait("h", max(0.0, deadline - time.monotonic()))

    def _wait_handled_here(self, timeout: float) -> bool:
        if self._handled >= self._submitted or self._pid != os.getpid():
            return True
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        deadline = time.monotonic() + timeout
        with self._idle:
            target = self._submitted
            while self._handled < target and self._pid == os.getpid() and thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued, then end the thread and close its database connection."""
        with self._lock:
            thread = self._thread if self._pid == os.getpid() else None
            self._thread = None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        layer = get_channel_layer()
        direct = None
        try:
            direct = DirectPubSub.for_layer(layer, loop)
        except Exception:
            logger.exception("events: sending through the channel layer's group_send instead")
        sent: list[Event] = []  # broadcast, not marked published yet
        mark_at = 0.0
        # Taken from the queue and handled (bumped) while a batch waited for running
        # transactions: sent with the next batch. A stuck transaction delays broadcasts
        # (SETTLE_TIMEOUT) but not the cache bumps of the events queued behind it.
        ahead: list[Event] = []

        def handle_newcomers() -> None:
            fresh = self._take(None, BATCH_LIMIT - len(ahead))
            if fresh:
                fresh.sort(key=lambda e: e.seq)
                if self._handle(fresh, close_on_failure=False):
                    ahead.extend(fresh)
                else:
                    self._done(fresh)  # unpublished: the relay runs the handlers again

        while True:
            batch: list[Event] = []
            if ahead:
                batch, ahead = ahead, []
                fresh = self._take(None, BATCH_LIMIT - len(batch))
            else:
                wait = IDLE_CLOSE if not sent else max(0.0, mark_at - time.monotonic())
                try:
                    first = self._queue.get(timeout=wait)
                except queue.Empty:
                    if sent:
                        self._mark(sent)
                        sent = []
                    else:
                        connection.close()  # idle: give the connection back; reopened on demand
                    continue
                if first is _STOP:
                    if sent:
                        self._mark(sent)
                    connection.close()
                    if direct is not None:
                        direct.close()
                    loop.close()
                    return
                fresh = self._take(first)
            if fresh:
                fresh.sort(key=lambda e: e.seq)
                if self._handle(fresh):
                    batch.extend(fresh)
                else:
                    self._done(fresh)  # unpublished: the relay runs the handlers again
            if not batch:
                continue
            batch.sort(key=lambda e: e.seq)
            try:
                _deliver(layer, batch, loop, direct, handle_newcomers)
            except Exception:
                logger.exception(
                    "events: could not broadcast %d event(s) (seq %s..%s); the relay will retry",
                    len(batch),
                    batch[0].seq,
                    batch[-1].seq,
                )
                connection.close()  # a fresh connection next time
                self._done(batch)
                continue
            if not sent:
                mark_at = time.monotonic() + MARK_EVERY
            sent.extend(batch)
            if len(sent) >= BATCH_LIMIT or time.monotonic() >= mark_at:
                self._mark(sent)
                sent = []

    def _take(self, first: Event | None, limit: int = BATCH_LIMIT) -> list[Event]:
        """`first` and whatever else has queued, up to `limit` events (never _STOP: it is
        left queued, to end the thread once these are sent)."""
        batch = [] if first is None else [first]
        while len(batch) < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(item)
        return batch

    def _handle(self, batch: list[Event], close_on_failure: bool = True) -> bool:
        """Run the batch handlers (cache bumps: before the broadcast, so a screen that
        re-reads on the event reads fresh values). False if one failed."""
        from events.actions import run_batch_handlers

        try:
            ok = run_batch_handlers(batch)
            if not ok and close_on_failure:
                connection.close()  # in case the database was the trouble
            return ok
        finally:
            with self._idle:
                self._handled += len(batch)
                self._idle.notify_all()
            if self.observer is not None:
                self.observer.handled(batch)

    def _mark(self, events: list[Event]) -> None:
        """Mark broadcast events published: one UPDATE for everything sent in the last
        MARK_EVERY seconds (one per batch was a tenth of a writer's CPU). If it fails the
        relay sends them again later, and hubs drop the repeats."""
        try:
            mark_published([e.seq for e in events])
        except Exception:
            logger.exception("events: could not mark %d event(s) published", len(events))
            connection.close()
        finally:
            self._done(events)

    def _done(self, events: list[Event]) -> None:
        """`events` are sent and marked, or given up on (the relay sends them)."""
        with self._idle:
            self._pending -= len(events)
            self._idle.notify_all()
        if self.observer is not None:
            self.observer.done(events)


publisher = Publisher()
atexit.register(publisher.flush, 3.0)


def broadcast(event: Event) -> None:
    """Post-commit: hand `event` to the host publisher (`events.host`), or else queue it
    for this process's publisher thread; either sends it and marks it published. Never
    raises: the relay covers a failure."""
    try:
        if not host.link.send(event):
            publisher.submit(event)
    except Exception:
        logger.exception("events: could not broadcast event %s; the relay will retry", event.seq)


def relay(limit: int = 1000, min_age: float = 1.0) -> int:
    """Send events still unpublished `min_age` seconds after they were written (their
    post-commit broadcast failed or their process died), oldest first; return how many."""
    from events.actions import run_handlers

    cutoff = timezone.now() - timedelta(seconds=min_age)
    pending = list(
        Event.objects.filter(published_at__isnull=True, created_at__lte=cutoff).order_by("seq")[
            :limit
        ]
    )
    ready = [event for event in pending if run_handlers(event)]
    send_now(ready)
    return len(ready)


def enabled() -> bool:
    return bool(getattr(settings, "CONCORD_LIVE", True))

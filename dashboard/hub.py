"""The hub: one per daphne process (per event loop), between the channel layer and the
process's websockets.

It holds one channel-layer channel in the events group (`events.live.GROUP`), so an
event costs one channel-layer message per process however many clients are connected,
and it serializes each event once. It delivers events in seq order, each once: the relay
sends them in seq order, each message naming the seq sent before it (`prev`). When the
hub has not delivered that one, something was lost on the way (Redis restarted, the hub
started mid-stream) and it reads what it missed from the log, as a reconnecting client
replays (`_catch_up`); a seq not in the log was rolled back. That is its only log read
for new events, besides the heartbeat's check of the relay's position (what a quiet
spell after a lost message would otherwise hide).

On embedded defaults (the in-memory channel layer) the relay runs in a thread of this
process (`EmbeddedRelay`) and hands its messages straight to the hubs here.

Re-rendered views (leaderboards, the ticker, the dashboard's counters and leaderboards)
are coalesced: an event marks them dirty and a render loop renders each at most every
`RENDER_EVERY` seconds, once for all of the process's clients.

A heartbeat re-joins the group (Redis may have restarted and forgotten it), delivers
from the log any event the relay has sent that the layer lost, closes connections whose
token was revoked, pings stream clients every 15 s, renews the stream leases that count
connections per token across processes (dashboard.leases), and writes the overlay fleet
(this process's connections) to the cache for the dashboard.

Subscribers whose connection is gone are dropped whatever ended it (the consumer also
unsubscribes itself on every way out): each flush and each heartbeat skip and drop a
subscriber that says it is `gone()`, so a connection that died without telling the hub
is neither fed nor listed in the fleet.

Every RECHECK_EVERY seconds the hub rechecks the users of all its dashboard sockets in
one batch of queries (dashboard.socket_auth) and closes those no longer allowed: one
batch per process, whatever the number of staff tabs, where a task per socket would run
the same queries once per tab through the process's one database thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from dashboard import public
from dashboard.exceptions import StreamLimitReached
from dashboard.leases import Leases
from dashboard.wire import Batch, Outgoing
from events import live
from events.models import Event, RelayPosition
from events.relay import NAME as RELAY_NAME
from events.relay import Relay

logger = logging.getLogger(__name__)

FLUSH_EVERY = 0.05  # events go out in batches at most this often (one write per connection)
# ... and a batch's writes take at most this share of the process's time: with many
# connections the batches grow instead of the writes crowding out everything else.
FLUSH_SHARE = 0.5
RENDER_EVERY = 0.1  # at most 10 renders per second per view
COUNTERS_EVERY = 1.0  # counters are aggregate queries: at most one per second
PING_EVERY = 15.0
HEARTBEAT_EVERY = 5.0
RECENT = 20_000  # seqs remembered to drop a repeat
CATCH_UP_PAGE = 500  # events read from the log at a time when catching up
FLEET_TTL = 30
RECHECK_EVERY = 4.0  # dashboard sockets' users, rechecked (the issue: at least every 5 s)
RECHECK_STALE = 15.0  # a dashboard socket not confirmed for this long is closed
CLOSE_TRY_AGAIN = 4503  # its user could not be rechecked (the database is down)
# Replays (dashboard.consumers) read and send a page at a time holding one of these
# slots: the others wait their turn, live deliveries and HTTP requests go in between ...
REPLAY_SLOTS = 2
# ... and all of them together take at most this share of the event loop's time (as
# FLUSH_SHARE for live batches): fifty clients replaying from 0 slow down each other,
# not the process.
REPLAY_SHARE = 0.5
# Stream connections read the database (their token, replay pages) in the hub's own
# threads, not in the one thread where Channels runs every other database call and
# Django runs each HTTP request's sync middleware (WhiteNoise holds that thread for a
# whole request): a connection storm or fifty replays do not queue before /healthz.
STREAM_THREADS = REPLAY_SLOTS + 2
PROCESS_ID = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def stream_text(msg: dict) -> str | None:
    """The frame token streams get for one event, live and replayed alike: its public
    projection (`dashboard.public`); None when it has none, and then no token stream
    gets it. Built once per event, for every connection."""
    data = public.project(msg["kind"], msg["data"])
    if data is None:
        return None
    return json.dumps(
        {
            "type": "event",
            "seq": msg["seq"],
            "kind": msg["kind"],
            "at": msg["at"],
            "data": data,
        },
        separators=(",", ":"),
    )


class Hub:
    def __init__(self, *, listen: bool = True) -> None:
        # listen=False: a hub fed only through `_incoming` (tests of its ordering), not
        # joined to the channel layer and not reading the log for new events.
        self.listen = listen
        self.subscribers: dict[str, Any] = {}
        self.last: int | None = None
        self.channel: str | None = None
        self.layer = None
        self.fed = False  # by the embedded relay (in-memory layer), not the channel layer
        self.recent: set[int] = set()
        self.recent_order: deque[int] = deque()
        self.outbox: list[Outgoing] = []
        self._skip: dict[str, set[int]] = {}  # per new subscriber: seqs it replays instead
        self._outbox_ready = asyncio.Event()
        self._flushed_at = 0.0
        self.dirty: set[str] = set()
        self.rendered_at: dict[str, float] = {}
        self.snapshots: dict[str, str] = {}
        self._started: asyncio.Future | None = None
        self._ordering = asyncio.Lock()  # one arrival at a time (receive loop, heartbeat)
        self._tasks: list[asyncio.Task] = []
        self._wake = asyncio.Event()
        self.leases: Leases | None = None
        self._release_task: asyncio.Task | None = None
        self.refused: dict[int, int] = {}  # stream connections refused, by token, lately
        self.replay_slot = asyncio.Semaphore(REPLAY_SLOTS)
        self._replay_next = 0.0
        self.threads = ThreadPoolExecutor(STREAM_THREADS, thread_name_prefix="stream")

    # --- subscribers -------------------------------------------------------------------

    async def subscribe(self, subscriber) -> int:
        """Add a subscriber; returns the seq up to which it must replay from the log.
        Every event above it reaches the subscriber's `push`. A stream connection takes
        a place on its token first: StreamLimitReached when the token has
        STREAM_MAX_PER_TOKEN connections already (on any process)."""
        await self.start()
        token_id = getattr(subscriber, "token_id", None)
        if token_id and not await self.leases.claim(
            token_id, subscriber.connection_id, settings.STREAM_MAX_PER_TOKEN
        ):
            self.refused[token_id] = self.refused.get(token_id, 0) + 1
            raise StreamLimitReached(
                f"token {token_id} has {settings.STREAM_MAX_PER_TOKEN} connections already"
            )
        # Events already in the outbox are at or below the returned seq: the subscriber
        # replays them from the log (or, replaying nothing, did not ask for the past).
        if self.outbox:
            self._skip[subscriber.connection_id] = {item.seq for item in self.outbox}
        self.subscribers[subscriber.connection_id] = subscriber
        return self.last or 0

    def unsubscribe(self, subscriber) -> None:
        """Forget a subscriber (again is harmless) and give its token's place back."""
        self.subscribers.pop(subscriber.connection_id, None)
        self._skip.pop(subscriber.connection_id, None)
        token_id = getattr(subscriber, "token_id", None)
        released = (
            token_id
            and self.leases is not None
            and self.leases.release(token_id, subscriber.connection_id)
        )
        if released and (self._release_task is None or self._release_task.done()):
            self._release_task = asyncio.get_running_loop().create_task(self.leases.flush())

    def sweep(self) -> None:
        """Drop the subscribers whose connection is gone, whatever closed it."""
        for subscriber in list(self.subscribers.values()):
            if _gone(subscriber):
                self.unsubscribe(subscriber)

    async def replay_paced(self, work: float) -> None:
        """A replay spent `work` seconds of the loop: wait so that replays take at most
        REPLAY_SHARE of it (and at least let the loop turn)."""
        now = time.monotonic()
        self._replay_next = max(self._replay_next, now - work) + work / REPLAY_SHARE
        await asyncio.sleep(max(0.0, self._replay_next - now))

    async def read(self, func, *args):
        """`func(*args)` (database work) in the hub's stream threads."""
        return await database_sync_to_async(func, thread_sensitive=False, executor=self.threads)(
            *args
        )

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                self.layer = get_channel_layer()
                self.leases = Leases(settings.REDIS_URL or None, settings.CACHE_KEY_PREFIX)
                embedded = self.listen and isinstance(self.layer, InMemoryChannelLayer)
                if embedded:
                    # The relay in this process: start where it is, fed by it from then on.
                    relay = await asyncio.to_thread(EmbeddedRelay.ensure)
                    with relay.lock:
                        self.last = relay.position
                        self.fed = True
                else:
                    start = _start_seq if self.listen else _latest_seq
                    self.last = await database_sync_to_async(start)()
                self._tasks = [
                    asyncio.create_task(self._flush_loop()),
                    asyncio.create_task(self._render_loop()),
                ]
                if self.listen:
                    self.channel = await self.layer.new_channel("concord.hub.")
                    await self.layer.group_add(live.GROUP, self.channel)
                    self._tasks += [
                        asyncio.create_task(self._receive_loop()),
                        asyncio.create_task(self._heartbeat_loop()),
                        asyncio.create_task(self._recheck_loop()),
                    ]
                self._started.set_result(True)
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started = None
                raise
        await asyncio.shield(self._started)

    async def _receive_loop(self) -> None:
        delay = 0.5
        while True:
            try:
                message = await self.layer.receive(self.channel)
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("hub: channel layer receive failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                await self._join()
                continue
            try:
                if message.get("type") == live.MESSAGE_TYPE:
                    await self._incoming(message)
                elif message.get("type") == live.CONTROL_TYPE:
                    await self._control(message)
            except Exception:
                logger.exception("hub: could not handle %s", message.get("type"))

    async def _join(self) -> None:
        try:
            await self.layer.group_add(live.GROUP, self.channel)
        except Exception as exc:
            logger.warning("hub: could not join the events group (%s)", exc)

    # --- ordering ----------------------------------------------------------------------

    async def _incoming(self, msg: dict) -> None:
        """One message from the relay. Its `prev` is the seq the relay sent before it
        (without one, as from a test, the seq just below is assumed): if this hub has not
        delivered up to there, the missing part is read from the log first."""
        async with self._ordering:
            seq = msg["seq"]
            if seq in self.recent:
                return
            if self.last is None or seq <= self.last:
                # Late: it committed after a higher seq was sent (a transaction that
                # outlived the relay's settle wait), or the layer reordered it.
                await self._deliver(msg)
                return
            prev = msg.get("prev", seq - 1)
            if prev > self.last:
                await self._catch_up(min(prev, seq - 1))
            self.last = seq
            await self._deliver(msg)

    async def _catch_up(self, upto: int) -> None:
        """Deliver from the log what this hub missed up to `upto`, as a reconnecting
        client replays: a lost message is read the same way (what is not there was
        rolled back)."""
        while self.last < upto:
            found = await database_sync_to_async(_events_between)(self.last, upto)
            for msg in found:
                if msg["seq"] not in self.recent:
                    await self._deliver(msg)
            self.last = found[-1]["seq"] if len(found) == CATCH_UP_PAGE else upto

    async def _take(self, messages: list[dict]) -> None:
        """From the embedded relay, in seq order."""
        for msg in messages:
            try:
                await self._incoming(msg)
            except Exception:
                logger.exception("hub: could not handle event %s", msg.get("seq"))

    async def _deliver(self, msg: dict) -> None:
        seq = msg["seq"]
        self.recent.add(seq)
        self.recent_order.append(seq)
        if len(self.recent_order) > RECENT:
            self.recent.discard(self.recent_order.popleft())
        text = stream_text(msg)
        if text is not None:  # else nothing in it is public: no token stream gets it
            self.outbox.append(Outgoing(seq, text, msg))
            self._outbox_ready.set()
        self._mark_dirty(msg)

    async def _flush_loop(self) -> None:
        """Hand the outbox to the subscribers, at most every FLUSH_EVERY seconds: an event
        after a quiet spell goes at once; in a burst, each connection gets the events of
        the last few milliseconds in one write instead of one write each."""
        interval = FLUSH_EVERY
        while True:
            await self._outbox_ready.wait()
            wait = self._flushed_at + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._outbox_ready.clear()
            batch, self.outbox = self.outbox, []
            self._flushed_at = started = time.monotonic()
            if not batch:
                continue
            try:
                await self._send_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad batch stop this process's deliveries
                logger.exception("hub: could not send events %s..%s", batch[0].seq, batch[-1].seq)
            interval = max(FLUSH_EVERY, (time.monotonic() - started) / FLUSH_SHARE)

    async def _send_batch(self, batch: list[Outgoing]) -> None:
        """Hand `batch` to every subscriber that wants some of it (one `Batch` per scope)."""
        skips, self._skip = self._skip, {}
        wanted_by_filter: dict = {}
        for subscriber in list(self.subscribers.values()):
            if _gone(subscriber):
                self.unsubscribe(subscriber)  # nobody to send to: not fed, not listed
                continue
            key = getattr(subscriber, "filter_key", None)
            wanted = wanted_by_filter.get(key) if key is not None else None
            if wanted is None:
                wanted = Batch(item for item in batch if subscriber.wants(item.msg))
                if key is not None:
                    wanted_by_filter[key] = wanted
            skip = skips.get(subscriber.connection_id)
            if skip:
                wanted = Batch(item for item in wanted if item.seq not in skip)
            if not wanted:
                continue
            try:
                await subscriber.push_many(wanted)
            except Exception:
                logger.exception("hub: push to %s failed", subscriber.connection_id)

    # --- coalesced renders ----------------------------------------------------------------

    def _mark_dirty(self, msg: dict) -> None:
        views = set()
        for subscriber in self.subscribers.values():
            views.update(subscriber.views_touched(msg))
        if views:
            self.dirty |= views
            self._wake.set()

    async def _render_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.dirty:
                now = time.monotonic()
                due = [
                    view
                    for view in self.dirty
                    if now - self.rendered_at.get(view, 0)
                    >= (COUNTERS_EVERY if view == "dashboard:counters" else RENDER_EVERY)
                ]
                for view in due:
                    self.dirty.discard(view)
                    self.rendered_at[view] = time.monotonic()
                    try:
                        text = await self.render(view)
                    except Exception:
                        logger.exception("hub: could not render %s", view)
                        continue
                    for subscriber in list(self.subscribers.values()):
                        if view in subscriber.views:
                            try:
                                await subscriber.send_view(view, text)
                            except Exception:
                                logger.exception("hub: send to %s failed", subscriber.connection_id)
                if self.dirty:
                    await asyncio.sleep(RENDER_EVERY / 2)

    async def render(self, view: str) -> str:
        """Render `view` now (also what a new subscriber gets first)."""
        from dashboard import renders

        text = await database_sync_to_async(renders.render_view)(view, self.last or 0)
        self.snapshots[view] = text
        return text

    # --- control and heartbeat -------------------------------------------------------------

    async def _control(self, msg: dict) -> None:
        if msg.get("action") == "revoke":
            for subscriber in list(self.subscribers.values()):
                if subscriber.token_id == msg.get("token_id"):
                    await subscriber.revoked()
        elif msg.get("action") == "reload":
            subscriber = self.subscribers.get(msg.get("connection"))
            if subscriber is not None:
                await subscriber.reload()

    async def _heartbeat_loop(self) -> None:
        last_ping = time.monotonic()
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            try:
                await self._join()
                # What the relay sent and the layer lost (Redis restarted and forgot the
                # group; pub/sub delivers at most once) with nothing after it to show the
                # gap: up to the relay's position, from the log.
                if not self.fed:
                    position = await database_sync_to_async(_relay_position)()
                    if position is not None and self.last is not None and position > self.last:
                        async with self._ordering:
                            await self._catch_up(position)
                tokens = {s.token_id for s in self.subscribers.values() if s.token_id}
                if tokens:
                    revoked = await database_sync_to_async(_revoked)(tokens)
                    for subscriber in list(self.subscribers.values()):
                        if subscriber.token_id in revoked:
                            await subscriber.revoked()
                self.sweep()
                await self.leases.renew()
                if self.refused:
                    refused, self.refused = self.refused, {}
                    logger.warning(
                        "hub: refused %s stream connections over STREAM_MAX_PER_TOKEN=%s"
                        " (by token: %s)",
                        sum(refused.values()),
                        settings.STREAM_MAX_PER_TOKEN,
                        refused,
                    )
                if time.monotonic() - last_ping >= PING_EVERY - 0.5:
                    last_ping = time.monotonic()
                    # One frame for every connection, and turns for the loop between.
                    text = json.dumps({"type": "ping", "at": iso(timezone.now())})
                    ping = Batch([Outgoing(0, text, {})])
                    for index, subscriber in enumerate(list(self.subscribers.values())):
                        await subscriber.ping(ping)
                        if index % 200 == 199:
                            await asyncio.sleep(0)
                await database_sync_to_async(write_fleet)(self.fleet())
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub: heartbeat failed")

    async def _recheck_loop(self) -> None:
        """Every RECHECK_EVERY seconds: are the dashboard sockets' users still allowed?
        One batch of queries for all of them (dashboard.socket_auth)."""
        while True:
            await asyncio.sleep(RECHECK_EVERY)
            try:
                await self.recheck()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub: rechecking the dashboard sockets failed")

    async def recheck(self) -> None:
        from dashboard.socket_auth import verdicts

        sockets = {
            connection_id: subscriber.staff_session
            for connection_id, subscriber in list(self.subscribers.items())
            if getattr(subscriber, "staff_session", None)
        }
        if not sockets:
            return
        try:
            found = await database_sync_to_async(verdicts)(sockets)
        except Exception:
            # The database did not answer: keep the sockets for a moment (a blip should
            # not drop every staff screen), but none unconfirmed for RECHECK_STALE.
            logger.exception("hub: could not recheck the dashboard sockets' users")
            stale = time.monotonic() - RECHECK_STALE
            found = {
                connection_id: CLOSE_TRY_AGAIN
                for connection_id in sockets
                if getattr(self.subscribers.get(connection_id), "checked_at", 0) < stale
            }
        now = time.monotonic()
        for connection_id, code in found.items():
            subscriber = self.subscribers.get(connection_id)
            if subscriber is None:
                continue
            if code is None:
                subscriber.checked_at = now
                continue
            self.unsubscribe(subscriber)
            try:
                await subscriber.close(code=code)
            except Exception:
                logger.exception("hub: could not close dashboard socket %s", connection_id)

    def fleet(self) -> list[dict]:
        return [s.describe() for s in self.subscribers.values() if s.token_id and not _gone(s)]


def _gone(subscriber) -> bool:
    """Whether a subscriber's connection has ended (one that cannot tell is present)."""
    gone = getattr(subscriber, "gone", None)
    return bool(gone is not None and gone())


def _latest_seq() -> int:
    return Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def _relay_position() -> int | None:
    return RelayPosition.objects.filter(name=RELAY_NAME).values_list("seq", flat=True).first()


def _start_seq() -> int:
    """Where a hub fed by the relay through the channel layer starts: the relay's position
    (everything above it is still to come from the relay), or the newest seq if no relay
    has run yet."""
    position = _relay_position()
    return position if position is not None else _latest_seq()


def _events_between(low: int, high: int) -> list[dict]:
    """Events in (low, high], a page at most."""
    rows = Event.objects.filter(seq__gt=low, seq__lte=high).order_by("seq")[:CATCH_UP_PAGE]
    return [live.message_for(event) for event in rows]


def _revoked(token_ids: set[int]) -> set[int]:
    from dashboard.models import OverlayToken

    return set(
        OverlayToken.objects.filter(pk__in=token_ids, revoked_at__isnull=False).values_list(
            "pk", flat=True
        )
    )


def write_fleet(connections: list[dict]) -> None:
    """This process's overlay connections, for the dashboard's fleet panel."""
    try:
        processes = set(cache.get("fleet:processes") or ())
        if PROCESS_ID not in processes:
            processes.add(PROCESS_ID)
            cache.set("fleet:processes", sorted(processes), None)
        cache.set(f"fleet:{PROCESS_ID}", connections, FLEET_TTL)
    except Exception as exc:
        logger.warning("hub: could not write the overlay fleet to the cache (%s)", exc)


def read_fleet() -> list[dict]:
    """Every process's overlay connections (processes gone for FLEET_TTL drop out)."""
    processes = list(cache.get("fleet:processes") or ())
    found = cache.get_many([f"fleet:{p}" for p in processes]) if processes else {}
    alive = [p for p in processes if f"fleet:{p}" in found]
    if len(alive) != len(processes):
        cache.set("fleet:processes", alive, None)
    rows = [row for p in alive for row in found[f"fleet:{p}"]]
    return sorted(rows, key=lambda r: r.get("connected_since") or "")


_hubs: dict[int, Hub] = {}


def get_hub() -> Hub:
    """The hub of the running event loop (daphne has one; tests may make several)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None or getattr(hub, "_loop", None) is not loop:
        for key, old in list(_hubs.items()):  # hubs of loops that ended (tests): their threads
            if old._loop.is_closed():
                old.threads.shutdown(wait=False)
                del _hubs[key]
        hub = Hub()
        hub._loop = loop
        _hubs[id(loop)] = hub
    return hub


class EmbeddedRelay:
    """Embedded defaults (the in-memory channel layer): the relay loop (`events.relay`) in
    a thread of the serving process. It hands each batch to this process's hubs, and its
    batch handlers bump this process's local-memory cache for writes made by other
    processes (a shell, a bot): every screen is right within a moment. Started by the
    first HTTP request (`config.asgi`) or the first hub; no advisory lock (one serving
    process per database on these defaults)."""

    _current: EmbeddedRelay | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.relay = Relay(deliver=self._deliver, embedded=True)
        self.lock = self.relay.lock
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="concord-relay", daemon=True)

    @property
    def position(self) -> int:
        return self.relay.position or 0

    @classmethod
    def wanted(cls) -> bool:
        return "InMemory" in settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")

    @classmethod
    def running(cls) -> bool:
        current = cls._current
        return current is not None and current.ready.is_set() and current.thread.is_alive()

    @classmethod
    def ensure(cls, timeout: float = 5.0) -> EmbeddedRelay:
        """This process's embedded relay, started if need be, once it knows its position."""
        with cls._guard:
            if cls._current is None or not cls._current.thread.is_alive():
                cls._current = cls()
                cls._current.thread.start()
            current = cls._current
        current.ready.wait(timeout)
        return current

    @classmethod
    def shut(cls, timeout: float = 5.0) -> None:
        """Stop this process's embedded relay (tests, before the database goes)."""
        with cls._guard:
            current, cls._current = cls._current, None
        if current is not None:
            current.stop.set()
            current.thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self.stop.is_set() and self.relay.position is None:
                try:
                    self.relay.start()
                except Exception:
                    logger.exception("relay: could not read its position; retrying")
                    connection.close()
                    self.stop.wait(1.0)
            self.ready.set()
            while not self.stop.is_set():
                try:
                    self.relay.serve(self.stop)
                except Exception:
                    logger.exception("relay: reading the log failed; retrying")
                    connection.close()
                    self.stop.wait(1.0)
        finally:
            self.ready.set()
            self.relay.close()

    def _deliver(self, messages: list[dict]) -> None:
        futures = []
        with self.lock:
            for hub in list(_hubs.values()):
                loop = getattr(hub, "_loop", None)
                if not hub.fed or loop is None or loop.is_closed():
                    continue
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    futures.append(asyncio.run_coroutine_threadsafe(hub._take(messages), loop))
        for future in futures:
            with contextlib.suppress(Exception):  # a loop shutting down: nobody listens
                future.result(live.SEND_TIMEOUT)

"""The hub: one per daphne process (per event loop), between the channel layer and the
process's websockets.

It holds one channel-layer channel in the events group (`events.live.GROUP`), so an
event costs one channel-layer message per process however many clients are connected,
and it serializes each event once (`frames.stream_text`). It delivers events in seq
order, each once: the relay sends them in seq order, each message naming the seq sent
before it (`prev`). When the hub has not delivered that one, something was lost on the
way (Redis restarted, the hub started mid-stream) and it reads what it missed from the
log, as a reconnecting client replays (`_catch_up`); a seq not in the log was rolled
back. That is its only log read for new events, besides the heartbeat's check of the
relay's position (what a quiet spell after a lost message would otherwise hide).

On embedded defaults (the in-memory channel layer) the relay runs in a thread of this
process (`EmbeddedRelay`) and hands its messages straight to the hubs here.

This module holds the hub's subscribers, its start, its receive loop and that ordering;
the rest is one module per subject, each with its own account:
- `fanout`: the outbox, handed to the subscribers in batches (one write per connection);
- `coalesced`: the views re-rendered at most every RENDER_EVERY seconds for all clients;
- `upkeep`: the heartbeat (re-join, revoked tokens, leases, pings, the fleet), control
  messages, and the dashboard sockets' rechecks;
- `fleet`: every process's overlay connections, in the cache for the dashboard;
- `frames`: what is written to stream clients (an event's public frame);
- `embedded`: the relay in a thread of this process, on embedded defaults.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from dashboard.exceptions import StreamLimitReached
from dashboard.hub.coalesced import COUNTERS_EVERY, RENDER_EVERY, CoalescedViews
from dashboard.hub.embedded import EmbeddedRelay
from dashboard.hub.fanout import FLUSH_EVERY, FLUSH_SHARE, Fanout, gone
from dashboard.hub.fleet import FLEET_TTL, PROCESS_ID, read_fleet, write_fleet
from dashboard.hub.frames import iso, stream_text
from dashboard.hub.upkeep import (
    CLOSE_TRY_AGAIN,
    HEARTBEAT_EVERY,
    PING_EVERY,
    RECHECK_EVERY,
    RECHECK_STALE,
    Upkeep,
)
from dashboard.leases import Leases
from dashboard.wire import Outgoing
from events import live
from events.models import Event, RelayPosition
from events.relay import NAME as RELAY_NAME

__all__ = [
    "CATCH_UP_PAGE",
    "CLOSE_TRY_AGAIN",
    "COUNTERS_EVERY",
    "FLEET_TTL",
    "FLUSH_EVERY",
    "FLUSH_SHARE",
    "HEARTBEAT_EVERY",
    "PING_EVERY",
    "PROCESS_ID",
    "RECENT",
    "RECHECK_EVERY",
    "RECHECK_STALE",
    "RENDER_EVERY",
    "REPLAY_SHARE",
    "REPLAY_SLOTS",
    "STREAM_THREADS",
    "EmbeddedRelay",
    "Hub",
    "get_hub",
    "iso",
    "read_fleet",
    "stream_text",
    "write_fleet",
]

logger = logging.getLogger(__name__)

RECENT = 20_000  # seqs remembered to drop a repeat
CATCH_UP_PAGE = 500  # events read from the log at a time when catching up
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


class Hub:
    def __init__(self, *, listen: bool = True) -> None:
        # listen=False: a hub fed only through `_incoming` (tests of its ordering), not
        # joined to the channel layer and not reading the log for new events.
        self.listen = listen
        self.loop: asyncio.AbstractEventLoop | None = None  # the one it serves (get_hub)
        self.subscribers: dict[str, Any] = {}
        self.last: int | None = None
        self.channel: str | None = None
        self.layer = None
        self.fed = False  # by the embedded relay (in-memory layer), not the channel layer
        self.recent: set[int] = set()
        self.recent_order: deque[int] = deque()
        self._ordering = asyncio.Lock()  # one arrival at a time (receive loop, heartbeat)
        self.fanout = Fanout(self)
        self.coalesced = CoalescedViews(self)
        self.upkeep = Upkeep(self)
        self._started: asyncio.Future | None = None
        self._tasks: list[asyncio.Task] = []
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
        self.fanout.hold_back(subscriber.connection_id)
        self.subscribers[subscriber.connection_id] = subscriber
        return self.last or 0

    def unsubscribe(self, subscriber) -> None:
        """Forget a subscriber (again is harmless) and give its token's place back."""
        self.subscribers.pop(subscriber.connection_id, None)
        self.fanout.forget(subscriber.connection_id)
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
            if gone(subscriber):
                self.unsubscribe(subscriber)

    def fleet(self) -> list[dict]:
        """This process's overlay connections (`fleet.write_fleet`)."""
        return [s.describe() for s in self.subscribers.values() if s.token_id and not gone(s)]

    async def render(self, view: str) -> str:
        """Render `view` now (also what a new subscriber gets first)."""
        return await self.coalesced.render(view)

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
        """Take a place in the events (the channel layer's group, or the embedded relay)
        and start the loops; once, however many call it."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self._open()
                self._started.set_result(True)
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started = None
                raise
        await asyncio.shield(self._started)

    async def _open(self) -> None:
        self.layer = get_channel_layer()
        self.leases = Leases(settings.REDIS_URL or None, settings.CACHE_KEY_PREFIX)
        if self.listen and isinstance(self.layer, InMemoryChannelLayer):
            # The relay in this process: start where it is, fed by it from then on.
            relay = await asyncio.to_thread(EmbeddedRelay.ensure)
            self.last = relay.feed(self)
            self.fed = True
        else:
            start = _start_seq if self.listen else _latest_seq
            self.last = await database_sync_to_async(start)()
        self._tasks = [
            asyncio.create_task(self.fanout.flush_loop()),
            asyncio.create_task(self.coalesced.render_loop()),
        ]
        if self.listen:
            self.channel = await self.layer.new_channel("concord.hub.")
            await self.layer.group_add(live.GROUP, self.channel)
            self._tasks += [
                asyncio.create_task(self._receive_loop()),
                asyncio.create_task(self.upkeep.heartbeat_loop()),
                asyncio.create_task(self.upkeep.recheck_loop()),
            ]

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
                await self.rejoin()
                continue
            try:
                if message.get("type") == live.MESSAGE_TYPE:
                    await self._incoming(message)
                elif message.get("type") == live.CONTROL_TYPE:
                    await self.upkeep.control(message)
            except Exception:
                logger.exception("hub: could not handle %s", message.get("type"))

    async def rejoin(self) -> None:
        """Join the events group again (harmless if still in it)."""
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

    async def catch_up_to_relay(self) -> None:
        """What the relay sent and the layer lost (Redis restarted and forgot the group;
        pub/sub delivers at most once) with nothing after it to show the gap: up to the
        relay's position, from the log (the heartbeat's check)."""
        position = await database_sync_to_async(_relay_position)()
        if position is not None and self.last is not None and position > self.last:
            async with self._ordering:
                await self._catch_up(position)

    async def take(self, messages: list[dict]) -> None:
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
            self.fanout.put(Outgoing(seq, text, msg))
        self.coalesced.mark_dirty(msg)

    async def _send_batch(self, batch: list[Outgoing]) -> None:
        """One flush of `batch` (`Fanout.send`), as the flush loop does it."""
        await self.fanout.send(batch)


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


_hubs: dict[int, Hub] = {}


def get_hub() -> Hub:
    """The hub of the running event loop (daphne has one; tests may make several)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None or hub.loop is not loop:
        for key, old in list(_hubs.items()):  # hubs of loops that ended (tests): their threads
            if old.loop.is_closed():
                old.threads.shutdown(wait=False)
                del _hubs[key]
        hub = Hub()
        hub.loop = loop
        _hubs[id(loop)] = hub
    return hub

"""The hub's fan-out: the events it delivers wait in an outbox, and a flush loop hands
them to the subscribers at most every FLUSH_EVERY seconds. An event after a quiet spell
goes at once; in a burst, each connection gets the events of the last few milliseconds
in one write instead of one write each. The subscribers of one scope share one `Batch`
(its frames joined once: `dashboard.wire`).

Subscribers whose connection is gone are dropped whatever ended it (the consumer also
unsubscribes itself on every way out): each flush and each heartbeat skip and drop a
subscriber that says it is `gone()`, so a connection that died without telling the hub
is neither fed nor listed in the fleet."""

from __future__ import annotations

import asyncio
import logging
import time

from dashboard.wire import Batch, Outgoing

logger = logging.getLogger(__name__)

FLUSH_EVERY = 0.05  # events go out in batches at most this often (one write per connection)
# ... and a batch's writes take at most this share of the process's time: with many
# connections the batches grow instead of the writes crowding out everything else.
FLUSH_SHARE = 0.5


def gone(subscriber) -> bool:
    """Whether a subscriber's connection has ended (one that cannot tell is present)."""
    ended = getattr(subscriber, "gone", None)
    return bool(ended is not None and ended())


class Fanout:
    """One hub's outbox. `hub` is the `dashboard.hub.Hub` it serves: its `subscribers`,
    and its `unsubscribe` for one whose connection is gone."""

    def __init__(self, hub) -> None:
        self.hub = hub
        self.outbox: list[Outgoing] = []
        self._skip: dict[str, set[int]] = {}  # per new subscriber: seqs it replays instead
        self._ready = asyncio.Event()
        self._flushed_at = 0.0

    def put(self, item: Outgoing) -> None:
        """An event delivered in order, for the next flush."""
        self.outbox.append(item)
        self._ready.set()

    def hold_back(self, connection_id: str) -> None:
        """A subscriber joins: the events already in the outbox are at or below the seq it
        replays up to (or, replaying nothing, it did not ask for the past); not for it."""
        if self.outbox:
            self._skip[connection_id] = {item.seq for item in self.outbox}

    def forget(self, connection_id: str) -> None:
        self._skip.pop(connection_id, None)

    async def flush_loop(self) -> None:
        """Hand the outbox to the subscribers, at most every FLUSH_EVERY seconds, and its
        writes at most FLUSH_SHARE of the process's time."""
        interval = FLUSH_EVERY
        while True:
            await self._ready.wait()
            wait = self._flushed_at + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._ready.clear()
            batch, self.outbox = self.outbox, []
            self._flushed_at = started = time.monotonic()
            if not batch:
                continue
            try:
                await self.send(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad batch stop this process's deliveries
                logger.exception("hub: could not send events %s..%s", batch[0].seq, batch[-1].seq)
            interval = max(FLUSH_EVERY, (time.monotonic() - started) / FLUSH_SHARE)

    async def send(self, batch: list[Outgoing]) -> None:
        """Hand `batch` to every subscriber that wants some of it (one `Batch` per scope)."""
        skips, self._skip = self._skip, {}
        wanted_by_filter: dict = {}
        for subscriber in list(self.hub.subscribers.values()):
            if gone(subscriber):
                self.hub.unsubscribe(subscriber)  # nobody to send to: not fed, not listed
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

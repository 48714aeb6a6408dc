"""The hub's coalesced views. Re-rendered views (leaderboards, the ticker, the
dashboard's counters and leaderboards) are not rendered per event: an event marks the
views it touches dirty, and one loop renders each at most every RENDER_EVERY seconds
(the counters, aggregate queries, at most every COUNTERS_EVERY), once for all of the
process's clients (`dashboard.renders`)."""

from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async

from dashboard import renders

logger = logging.getLogger(__name__)

RENDER_EVERY = 0.1  # at most 10 renders per second per view
COUNTERS_EVERY = 1.0  # counters are aggregate queries: at most one per second


def _every(view: str) -> float:
    return COUNTERS_EVERY if view == "dashboard:counters" else RENDER_EVERY


class CoalescedViews:
    """One hub's views to re-render. `hub` is the `dashboard.hub.Hub` it serves: its
    `subscribers` (who shows which view) and `last` (the seq a render is as of)."""

    def __init__(self, hub) -> None:
        self.hub = hub
        self.dirty: set[str] = set()
        self.rendered_at: dict[str, float] = {}
        self._wake = asyncio.Event()

    def mark_dirty(self, msg: dict) -> None:
        """The views an event touches, for any subscriber, are to be rendered again."""
        views = set()
        for subscriber in self.hub.subscribers.values():
            views.update(subscriber.views_touched(msg))
        if views:
            self.dirty |= views
            self._wake.set()

    async def render_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.dirty:
                now = time.monotonic()
                due = [v for v in self.dirty if now - self.rendered_at.get(v, 0) >= _every(v)]
                for view in due:
                    self.dirty.discard(view)
                    self.rendered_at[view] = time.monotonic()
                    await self._refresh(view)
                if self.dirty:
                    await asyncio.sleep(RENDER_EVERY / 2)

    async def _refresh(self, view: str) -> None:
        """Render `view` once and send it to every subscriber that shows it."""
        try:
            text = await self.render(view)
        except Exception:
            logger.exception("hub: could not render %s", view)
            return
        for subscriber in list(self.hub.subscribers.values()):
            if view in subscriber.views:
                try:
                    await subscriber.send_view(view, text)
                except Exception:
                    logger.exception("hub: send to %s failed", subscriber.connection_id)

    async def render(self, view: str) -> str:
        """Render `view` now (also what a new subscriber gets first)."""
        return await database_sync_to_async(renders.render_view)(view, self.hub.last or 0)

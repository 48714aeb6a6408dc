"""The hub's upkeep of its connections, besides delivering events.

A heartbeat, every HEARTBEAT_EVERY seconds: re-joins the events group (Redis may have
restarted and forgotten it), delivers from the log any event the relay has sent that
the layer lost (`Hub.catch_up_to_relay`), closes connections whose token was revoked,
drops the subscribers whose connection is gone, renews the stream leases that count
connections per token across processes (`dashboard.leases`), reports the stream
connections it refused, pings stream clients every PING_EVERY seconds, and writes the
overlay fleet (this process's connections) to the cache for the dashboard (`fleet`).

Control messages from any process (`events.live.control`) revoke a token's connections
or reload one connection.

Every RECHECK_EVERY seconds the hub rechecks the users of all its dashboard sockets in
one batch of queries (`dashboard.socket_auth`) and closes those no longer allowed: one
batch per process, whatever the number of staff tabs, where a task per socket would run
the same queries once per tab through the process's one database thread."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from dashboard.hub.fleet import write_fleet
from dashboard.hub.frames import iso
from dashboard.models import OverlayToken
from dashboard.socket_auth import verdicts
from dashboard.wire import Batch, Outgoing

logger = logging.getLogger(__name__)

PING_EVERY = 15.0
HEARTBEAT_EVERY = 5.0
RECHECK_EVERY = 4.0  # dashboard sockets' users, rechecked (the issue: at least every 5 s)
RECHECK_STALE = 15.0  # a dashboard socket not confirmed for this long is closed
CLOSE_TRY_AGAIN = 4503  # its user could not be rechecked (the database is down)


class Upkeep:
    """One hub's heartbeat, control messages and rechecks. `hub` is the
    `dashboard.hub.Hub` it keeps."""

    def __init__(self, hub) -> None:
        self.hub = hub
        self._pinged_at = time.monotonic()

    async def control(self, msg: dict) -> None:
        """A control message (`events.live.control`)."""
        subscribers = self.hub.subscribers
        if msg.get("action") == "revoke":
            for subscriber in list(subscribers.values()):
                if subscriber.token_id == msg.get("token_id"):
                    await subscriber.revoked()
        elif msg.get("action") == "reload":
            subscriber = subscribers.get(msg.get("connection"))
            if subscriber is not None:
                await subscriber.reload()

    # --- heartbeat -------------------------------------------------------------------

    async def heartbeat_loop(self) -> None:
        self._pinged_at = time.monotonic()
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub: heartbeat failed")

    async def beat(self) -> None:
        """One heartbeat (a step that fails skips the rest until the next)."""
        hub = self.hub
        await hub.rejoin()
        if not hub.fed:
            await hub.catch_up_to_relay()
        await self._close_revoked()
        hub.sweep()
        await hub.leases.renew()
        self._report_refused()
        if time.monotonic() - self._pinged_at >= PING_EVERY - 0.5:
            self._pinged_at = time.monotonic()
            await self._ping()
        await database_sync_to_async(write_fleet)(hub.fleet())

    async def _close_revoked(self) -> None:
        subscribers = self.hub.subscribers
        tokens = {s.token_id for s in subscribers.values() if s.token_id}
        if tokens:
            revoked = await database_sync_to_async(_revoked)(tokens)
            for subscriber in list(subscribers.values()):
                if subscriber.token_id in revoked:
                    await subscriber.revoked()

    def _report_refused(self) -> None:
        hub = self.hub
        if hub.refused:
            refused, hub.refused = hub.refused, {}
            logger.warning(
                "hub: refused %s stream connections over STREAM_MAX_PER_TOKEN=%s (by token: %s)",
                sum(refused.values()),
                settings.STREAM_MAX_PER_TOKEN,
                refused,
            )

    async def _ping(self) -> None:
        """One frame for every connection, and turns for the loop between."""
        text = json.dumps({"type": "ping", "at": iso(timezone.now())})
        ping = Batch([Outgoing(0, text, {})])
        for index, subscriber in enumerate(list(self.hub.subscribers.values())):
            await subscriber.ping(ping)
            if index % 200 == 199:
                await asyncio.sleep(0)

    # --- dashboard sockets -------------------------------------------------------------

    async def recheck_loop(self) -> None:
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
        subscribers = self.hub.subscribers
        sockets = {
            connection_id: subscriber.staff_session
            for connection_id, subscriber in list(subscribers.items())
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
                if getattr(subscribers.get(connection_id), "checked_at", 0) < stale
            }
        now = time.monotonic()
        for connection_id, code in found.items():
            subscriber = subscribers.get(connection_id)
            if subscriber is None:
                continue
            if code is None:
                subscriber.checked_at = now
                continue
            self.hub.unsubscribe(subscriber)
            try:
                await subscriber.close(code=code)
            except Exception:
                logger.exception("hub: could not close dashboard socket %s", connection_id)


def _revoked(token_ids: set[int]) -> set[int]:
    return set(
        OverlayToken.objects.filter(pk__in=token_ids, revoked_at__isnull=False).values_list(
            "pk", flat=True
        )
    )

"""What the live layer sends and how: the group message, control messages, the wait for
running transactions, and the direct Redis pub/sub sender. The relay (`events.relay`) is
what sends; the hubs (`dashboard.hub`) receive.

Every committed event goes to one channel-layer group, `GROUP`. Each daphne process
subscribes to it once (the dashboard's hub) and fans events out to its own websockets,
so one event costs one channel-layer message per process, not one per client. A message
carries `prev`, the seq the relay sent before it: a hub that has delivered `prev` knows
nothing is missing; one that has not reads what it missed from the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import psycopg
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, get_channel_layer
from django.conf import settings
from django.db import connection

from config import private_apis
from events.models import Event

logger = logging.getLogger(__name__)

GROUP = "concord.events"
MESSAGE_TYPE = "concord.event"
CONTROL_TYPE = "concord.control"
SETTLE_TIMEOUT = 2.0  # seconds to wait for running transactions before sending anyway
SEND_TIMEOUT = 5.0


def message_for(event: Event, prev: int | None = None) -> dict:
    """The group message for one event (what the hub turns into a stream message). `prev`:
    the seq the relay sent just before (None where unknown: replays)."""
    created = event.created_at
    message = {
        "type": MESSAGE_TYPE,
        "seq": event.seq,
        "kind": event.kind,
        "at": created.isoformat().replace("+00:00", "Z") if created else None,
        "subject": event.subject,
        "data": event.data,
    }
    if prev is not None:
        message["prev"] = prev
    return message


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


def running_here() -> list[int]:
    """The transactions of this database in progress now (what `wait_settled` waits for),
    for a caller that waits without blocking a thread (the Bot API's events long-poll):
    poll `still_running` between its own sleeps. Empty on SQLite."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(_RUNNING_HERE)
        return [row[0] for row in cursor.fetchall()]


def still_running(xids: list[int]) -> bool:
    """Whether any of `xids` (from `running_here`) is still in progress."""
    if not xids:
        return False
    with connection.cursor() as cursor:
        cursor.execute(_STILL_RUNNING, [xids])
        return cursor.fetchone()[0] > 0


def wait_settled(timeout: float = SETTLE_TIMEOUT) -> bool:
    """Wait until every transaction of this database running now has ended (PostgreSQL; a
    no-op on SQLite, whose writers run one at a time), so none can still commit an event
    below the ones about to be sent. Transactions of other databases on the server are
    not waited for. False if one still ran after `timeout` seconds."""
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
        deadline = time.monotonic() + timeout
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
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class DirectPubSub:
    """Sends to channels_redis's pub/sub layer without its event loop: a batch is one
    pipelined round trip on a synchronous connection, writing exactly what the layer's
    `group_send` writes (PUBLISH of the layer's own serialization to the channel name the
    layer gives the group). `group_send` cost ~0.3 ms of the writing process's CPU per
    event under load (a loop turn, a lock and a round trip each); a batch costs ~0.1 ms.
    tests/events/test_relay_steps.py holds the two to the same messages."""

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

    def send(self, messages: Sequence[dict]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for message in messages:
            pipe.publish(self.channel, self.layer.serialize(message))
        pipe.execute()

    def close(self) -> None:
        self.client.close()


async def _group_channel(layer) -> str:
    return private_apis.group_channel(layer, GROUP)  # the layer's loop-bound part names it


async def group_send(layer, messages: Sequence[dict]) -> None:
    """Send `messages` in order through the layer's own `group_send` (any layer but the
    pub/sub one on a single Redis, which `DirectPubSub` sends to)."""
    for message in messages:
        await layer.group_send(GROUP, message)


def enabled() -> bool:
    """Whether committed events are broadcast at all (`CONCORD_LIVE`); off, the relay
    still runs the batch handlers (the cache bumps) and moves its position."""
    return bool(getattr(settings, "CONCORD_LIVE", True))

"""`/healthz`: the state of each service Concord depends on, checked for real."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0
# The probe's own threads, bounded and per check: a flood of probes against a hung
# database queues behind the database's threads only, never behind the cache's.
_EXECUTORS: dict[str, ThreadPoolExecutor] = {}


def _executor(name: str) -> ThreadPoolExecutor:
    if name not in _EXECUTORS:
        _EXECUTORS[name] = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"healthz-{name}")
    return _EXECUTORS[name]


if settings.REDIS_URL:
    # The checks run concurrently (threads and the event loop); importing the Redis
    # clients lazily from two of them at once deadlocks Python's import lock.
    import channels_redis.core  # noqa: F401
    import django_redis.cache  # noqa: F401
    import kombu.transport.redis  # noqa: F401
    import redis.asyncio  # noqa: F401


def _database() -> str:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # LOCAL: ends with this transaction, even behind a connection pooler.
                cursor.execute(f"SET LOCAL statement_timeout = {int(CHECK_TIMEOUT * 1000)}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor
    finally:
        connection.close()  # this thread is the probe's own: leave no connection behind


def _cache() -> str:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("value written was not read back")
    cache.delete(key)
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


async def _channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("message sent was not received")
    return type(layer).__name__


def _broker() -> str:
    from config.celery import app

    if app.conf.task_always_eager:
        return "eager (embedded, no broker)"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
        conn.default_channel  # noqa: B018  (opens a channel: proves the broker answers)
        return conn.transport.driver_type


class Behind(Exception):
    """The relay is further behind than RELAY_MAX_LAG_SECONDS."""

    def __init__(self, lag: dict) -> None:
        super().__init__(f"behind by {lag['behind_seconds']}s")
        self.lag = lag


def _relay() -> dict:
    """How far the relay (`manage.py run_relay`; embedded: the serving process's thread)
    is behind the log: down past RELAY_MAX_LAG_SECONDS."""
    from events.relay import lag

    try:
        behind = lag().as_dict()
    finally:
        connection.close()
    if behind["behind_seconds"] > settings.RELAY_MAX_LAG_SECONDS:
        raise Behind(behind)
    return behind


async def _timed(name: str, check) -> tuple[str, dict]:
    started = time.perf_counter()
    try:
        # Each synchronous check in a thread of its own: a slow database must not hold
        # up (and so falsely fail) the cache and broker checks queued behind it.
        if inspect.iscoroutinefunction(check):
            awaitable = check()
        else:
            awaitable = asyncio.get_running_loop().run_in_executor(_executor(name), check)
        detail = await asyncio.wait_for(awaitable, timeout=CHECK_TIMEOUT)
        state = {"ok": True, "detail": detail}
    except TimeoutError:
        state = {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:g}s"}
    except Behind as behind:
        state = {"ok": False, "error": str(behind), "detail": behind.lag}
    except Exception as exc:  # any failure is the answer, not an error of the endpoint
        # The body is public: name the failure, keep hosts and credentials for the log.
        logger.warning("healthz: %s is down: %s", name, exc)
        state = {"ok": False, "error": type(exc).__name__}
    state["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return name, state


CHECKS = {
    "database": _database,
    "cache": _cache,
    "channel_layer": _channel_layer,
    "broker": _broker,
    "relay": _relay,
}


@never_cache
@require_GET
async def healthz(request):
    results = dict(await asyncio.gather(*(_timed(name, fn) for name, fn in CHECKS.items())))
    down = [name for name, state in results.items() if not state["ok"]]
    body = {"status": "ok" if not down else "down", "down": down, "services": results}
    body["relay"] = results["relay"].get("detail")  # behind_events, behind_seconds, position
    return JsonResponse(body, status=503 if down else 200)

"""Requests per API key and scope, counted in Django's cache (Redis in production, so
every process counts together; local memory on embedded defaults, one process).

A fixed window: the first request of a window creates its counter with the window as its
lifetime, each request increments it; past the limit the request is refused with 429
before its handler runs (so it writes nothing). Headers follow the IETF draft
"RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers):
`RateLimit-Policy: "<scope>";q=<limit>;w=<window>` and
`RateLimit: "<scope>";r=<remaining>;t=<seconds to reset>`, plus `Retry-After` on a 429.

If the cache is unreachable the request is let through (logged): a Redis outage must
not take the API down with it; the ledger's guarantees do not depend on the limit.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from redis.commands.core import Script

from api.problems import Problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    policy: str
    limit: int
    window: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset}',
        }


def limit_for(scope: str) -> tuple[int, int]:
    limits = settings.API_RATE_LIMITS
    return limits.get(scope) or limits["default"]


def shared_client():
    """django-redis's client when the cache is Redis (shared by every process), else None."""
    backend = getattr(cache, "client", None)
    if hasattr(backend, "get_client") and hasattr(backend, "make_key"):
        return backend
    return None


# One round trip, atomic (a script runs alone): the counter gets its lifetime in the same
# step that creates it, so it can never live on without one; and, read with it, another
# key's value (the keys' generation, `api.keycache`), so a request makes no extra trip.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if #KEYS > 1 then return {count, redis.call('GET', KEYS[2])} end
return {count, false}
"""
_script: list[Script] = []  # made once, with the first client (EVALSHA, loaded if missing)


def _count(counter: str, lifetime: int, also_get: str | None = None) -> tuple[int, object]:
    """Add one to `counter` (created with `lifetime` seconds to live): its new value, and
    the value of the cache key `also_get` read in the same round trip (None without one).

    On Redis one round trip: `_COUNT_SCRIPT` (EVALSHA), `INCR` and, on a new counter,
    `EXPIRE`, atomically. Elsewhere (local memory, one process) the cache's own add and
    incr."""
    backend = shared_client()
    if backend is not None:
        client = backend.get_client(write=True)
        if not _script:
            _script.append(client.register_script(_COUNT_SCRIPT))
        keys = [backend.make_key(counter)]
        if also_get is not None:
            keys.append(backend.make_key(also_get))
        count, other = _script[0](keys=keys, args=[lifetime], client=client)
        return count, other
    other = cache.get(also_get) if also_get is not None else None
    cache.add(counter, 0, timeout=lifetime)
    try:
        return cache.incr(counter), other
    except ValueError:  # expired between add and incr: this request starts the window
        cache.set(counter, 1, timeout=lifetime)
        return 1, other


@dataclass(frozen=True)
class Count:
    """One request counted (`count`), not yet judged (`judge`)."""

    scope: str
    limit: int
    window: int
    count: int | None  # None: the cache was unreachable
    reset: int


def count(key_id: int, scope: str, *, now: float | None = None, also_get: str | None = None):
    """Count one request of key `key_id` under `scope`, without refusing it yet: (the
    `Count`, the value of cache key `also_get` read in the same round trip, or None)."""
    limit, window = limit_for(scope)
    now = time.time() if now is None else now
    start = int(now // window) * window
    reset = max(1, math.ceil(start + window - now))
    counter = f"api:rate:{key_id}:{scope}:{start}"
    try:
        value, other = _count(counter, window + 1, also_get)
    except Exception:
        logger.warning("rate limit: cache unreachable; request let through", exc_info=True)
        return Count(scope, limit, window, None, reset), None
    return Count(scope, limit, window, value, reset), other


def judge(counted: Count) -> Usage:
    """The usage of a counted request; a 429 `Problem` past the limit."""
    limit, window, reset = counted.limit, counted.window, counted.reset
    if counted.count is None:  # the cache was unreachable: let through
        return Usage(counted.scope, limit, window, limit, reset)
    usage = Usage(counted.scope, limit, window, max(0, limit - counted.count), reset)
    if counted.count > limit:
        raise Problem(
            429,
            "rate_limited",
            f"more than {limit} requests in {window} s for {counted.scope}; retry in {reset} s",
            headers={**usage.headers(), "Retry-After": str(reset)},
        )
    return usage


def hit(key_id: int, scope: str, *, now: float | None = None) -> Usage:
    """Count one request of key `key_id` under `scope`; raise a 429 `Problem` past the limit."""
    return judge(count(key_id, scope, now=now)[0])

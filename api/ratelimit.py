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


def _count(counter: str, lifetime: int) -> int:
    """Add one to `counter` (created with `lifetime` seconds to live); its new value.

    On Redis one round trip: `SET NX EX` and `INCR` in one MULTI/EXEC, so the counter
    cannot expire between them and live on without a lifetime. Elsewhere (local memory,
    one process) the cache's own add and incr."""
    backend = getattr(cache, "client", None)  # django-redis's client, on Redis
    if hasattr(backend, "get_client") and hasattr(backend, "make_key"):
        pipe = backend.get_client(write=True).pipeline(transaction=True)
        key = backend.make_key(counter)
        pipe.set(key, 0, ex=lifetime, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]
    cache.add(counter, 0, timeout=lifetime)
    try:
        return cache.incr(counter)
    except ValueError:  # expired between add and incr: this request starts the window
        cache.set(counter, 1, timeout=lifetime)
        return 1


def hit(key_id: int, scope: str, *, now: float | None = None) -> Usage:
    """Count one request of key `key_id` under `scope`; raise a 429 `Problem` past the limit."""
    limit, window = limit_for(scope)
    now = time.time() if now is None else now
    start = int(now // window) * window
    reset = max(1, math.ceil(start + window - now))
    counter = f"api:rate:{key_id}:{scope}:{start}"
    try:
        count = _count(counter, window + 1)
    except Exception:
        logger.warning("rate limit: cache unreachable; request let through", exc_info=True)
        return Usage(scope, limit, window, limit, reset)
    usage = Usage(scope, limit, window, max(0, limit - count), reset)
    if count > limit:
        raise Problem(
            429,
            "rate_limited",
            f"more than {limit} requests in {window} s for {scope}; retry in {reset} s",
            headers={**usage.headers(), "Retry-After": str(reset)},
        )
    return usage

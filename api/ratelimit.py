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


def hit(key_id: int, scope: str, *, now: float | None = None) -> Usage:
    """Count one request of key `key_id` under `scope`; raise a 429 `Problem` past the limit."""
    limit, window = limit_for(scope)
    now = time.time() if now is None else now
    start = int(now // window) * window
    reset = max(1, math.ceil(start + window - now))
    counter = f"api:rate:{key_id}:{scope}:{start}"
    try:
        cache.add(counter, 0, timeout=window + 1)
        count = cache.incr(counter)
    except ValueError:  # expired between add and incr: this request starts the window
        cache.set(counter, 1, timeout=window + 1)
        count = 1
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

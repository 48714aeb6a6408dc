"""Stream leases: at most STREAM_MAX_PER_TOKEN `/ws/stream/` connections per overlay
token, counted across every daphne process.

With Redis each connection holds a lease in its token's sorted set (member: the
connection's id, score: when the lease lapses, by Redis's clock, so hosts' clocks do not
matter). A Lua script claims a place atomically: it drops lapsed leases, counts, and adds
the new one only below the limit, so connects racing on several processes never admit
more than the limit and never refuse below it. Each hub renews its connections' leases
with its heartbeat (every 5 s, for LEASE = 15 s) and removes a lease when its connection
ends. A process that dies (SIGKILL, OOM) renews nothing: its leases lapse within LEASE
seconds and its places are free again.

Without Redis (embedded defaults) the cache is the serving process's own memory, and so
is this count: one process serves, and counts exactly.

When Redis cannot be reached the limit fails open to the process: a connection is
admitted if this process holds fewer than the limit on its token, a warning says so
(once per outage, then at most every minute), and Redis is tried again after RETRY
seconds. Refusing every overlay because the cache is down would turn a cache outage into
a stream outage; a token still holds at most the limit per process. Leases taken while
Redis was away are written by the next renewal.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)

LEASE = 15.0  # seconds a lease lasts unless renewed (three heartbeats)
RETRY = 5.0  # seconds before trying Redis again after it failed
TIMEOUT = 1.0  # seconds for a Redis round trip: a connect must not hang on the cache
WARN_EVERY = 60.0

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""
# KEYS[1] the token's leases; ARGV: connection id, lease seconds, limit. 1 admitted, 0 not.
CLAIM = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""
)
# KEYS[1] the token's leases; ARGV: lease seconds, then the connection ids to renew.
RENEW = (
    _NOW
    + """
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return #ARGV - 1
"""
)


class Leases:
    """One per hub (per daphne process and event loop). `redis_url` None: count in this
    process only (embedded defaults)."""

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        self.prefix = prefix
        self.local: dict[int, set[str]] = {}  # this process's connections, by token
        self._released: dict[int, set[str]] = {}
        self._down_until = 0.0
        self._warned_at: float | None = None
        self.redis = None
        if redis_url:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(
                redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
            )
            self._claim = self.redis.register_script(CLAIM)
            self._renew = self.redis.register_script(RENEW)

    def key(self, token_id: int) -> str:
        return f"{self.prefix}:streams:{token_id}"

    def held(self, token_id: int) -> int:
        return len(self.local.get(token_id, ()))

    async def claim(self, token_id: int, connection_id: str, limit: int) -> bool:
        """Take a place for `connection_id` on `token_id`; False if the token has
        `limit` connections already."""
        mine = self.local.setdefault(token_id, set())
        if self._usable():
            try:
                await self.flush()  # places given back first: they count no more
                admitted = await self._claim(
                    keys=[self.key(token_id)], args=[connection_id, LEASE, limit]
                )
            except Exception as exc:
                self._failed(exc)
            else:
                if admitted:
                    mine.add(connection_id)
                elif not mine:
                    del self.local[token_id]
                return bool(admitted)
        if len(mine) >= limit:
            return False
        mine.add(connection_id)
        return True

    def release(self, token_id: int, connection_id: str) -> bool:
        """Give the place back (written by the next `flush`); False if it held none."""
        mine = self.local.get(token_id)
        if not mine or connection_id not in mine:
            return False
        mine.discard(connection_id)
        if not mine:
            del self.local[token_id]
        if self.redis is not None:
            self._released.setdefault(token_id, set()).add(connection_id)
        return True

    async def flush(self) -> None:
        """Remove the leases of connections that ended, in one round trip."""
        while self._released and self._usable():
            released, self._released = self._released, {}
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for token_id, connections in released.items():
                        pipe.zrem(self.key(token_id), *connections)
                    await pipe.execute()
            except Exception as exc:
                self._failed(exc)  # they lapse by themselves within LEASE seconds

    async def renew(self) -> None:
        """Extend every lease this process holds (the hub's heartbeat)."""
        await self.flush()
        if not self.local or not self._usable():
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for token_id, connections in self.local.items():
                    await self._renew(
                        keys=[self.key(token_id)], args=[LEASE, *connections], client=pipe
                    )
                await pipe.execute()
        except Exception as exc:
            self._failed(exc)
        else:
            if self._warned_at is not None:
                logger.warning("stream limit: the cache answers again; counting across processes")
                self._warned_at = None

    def _usable(self) -> bool:
        return self.redis is not None and time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self._down_until = now + RETRY
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "stream limit: the cache cannot be reached (%s); counting this process's"
                " connections only until it answers",
                exc,
            )

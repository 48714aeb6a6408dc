"""The last 24 hours' and the last 7 days' leaderboards, kept by the relay in Redis beside
the boards of dashboard.ranks (whose sorted sets, marks, reads and builds' rules they
share): what each member gained since the start of the hour 24 (168) hours before the
current one. The window moves on by whole hours, so it reaches back 24 to 25 hours (7
days to 7 days and an hour).

A rolling board is:
- per hour of its window, a span hash (`...:hour:<n>`, n the hours since 1970 in UTC),
  as a period's in dashboard.ranks: per wallet, the version and balance before its first
  posting of that hour and after its last (`lo:start:hi:end`);
- a hash of each wallet's total (the sum of `end - start` over the window's hours), with
  the window's first hour (`from`); and the sorted set of the wallets whose total is
  above 0 (score: minus it), as the query's `since` ranks.
A posting widens its hour's span (only ever outward) and adds to the wallet's total what
that changed, in one script: applied twice, late, or beside a build it adds nothing
more. Moving the window on (`from` to a later hour) subtracts the spans of the hours that
left and deletes them: every read does it first. A board left unread for longer than its
window is dropped by the read and rebuilt (the spans it would subtract may have expired).
Postings of an hour before `from` are ignored. With no board (never read, dropped,
evicted) the relay keeps nothing for it.

A build empties the board and the spans of its window, claims it (a token), then replays
the window's postings through the relay's own script, so that the relay's moves meanwhile
and the build's count each posting once; it marks the board built as dashboard.ranks
does. Without Redis there are no rolling boards: every read is the query."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from celery import current_app
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from dashboard import ranks
from events.log import batched
from ledger.queries import SINCE_FIRST

logger = logging.getLogger(__name__)

WINDOWS = {"24h": 24, "7d": 24 * 7}  # name: hours before the current one
HOUR = 3600
# A span hash is kept this long past its hour's end beyond the window (a read moves the
# window on at most a window's length at once, so every span it subtracts is there).
KEEP_HOURS = {name: 2 * hours + 24 for name, hours in WINDOWS.items()}

# KEYS: the board's set and hash. ARGV: EXACT, the spans' key prefix, hours kept after
# an hour's end, then (member, hour, amount, balance, version) per posting.
_APPLY = """
local from = tonumber(redis.call('HGET', KEYS[2], 'from') or '-1')
if from < 0 then return 0 end
local exact, prefix, keep = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
for i = 4, #ARGV, 5 do
  local member, hour = ARGV[i], tonumber(ARGV[i + 1])
  if hour >= from then
    local amount, balance = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
    local version = tonumber(ARGV[i + 4])
    local key = prefix .. ARGV[i + 1]
    local span = redis.call('HGET', key, member)
    local lo, first, hi, last, before = 0, 0, 0, 0, 0
    if span then
      local a, b, c, d = string.match(span, '^(%d+):(%d+):(%d+):(%d+)$')
      lo, first, hi, last = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
      before = last - first
    end
    local changed = false
    if not span or version < lo then lo, first, changed = version, balance - amount, true end
    if not span or version > hi then hi, last, changed = version, balance, true end
    if changed then
      redis.call('HSET', key, member, string.format('%d:%d:%d:%d', lo, first, hi, last))
      redis.call('EXPIREAT', key, (hour + 1 + keep) * 3600)
      local total = redis.call('HINCRBY', KEYS[2], member, (last - first) - before)
      if total > 0 then
        redis.call('ZADD', KEYS[1], -total, member)
      else
        redis.call('ZREM', KEYS[1], member)
        if total == 0 then redis.call('HDEL', KEYS[2], member) end
      end
      if balance > exact then redis.call('HSET', KEYS[2], 'inexact', 1) end
    end
  end
end
return 1
"""

# KEYS: the board's set and hash. ARGV: the spans' key prefix, the window's first hour
# now, the window's length in hours. 1: the board's window starts there now; 0: no board
# (none, or dropped: too far behind).
_ADVANCE = """
local from = tonumber(redis.call('HGET', KEYS[2], 'from') or '-1')
local wanted = tonumber(ARGV[2])
if from < 0 then return 0 end
if wanted <= from then return 1 end
if wanted - from > tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 0
end
for hour = from, wanted - 1 do
  local key = ARGV[1] .. string.format('%d', hour)
  local spans = redis.call('HGETALL', key)
  for i = 1, #spans, 2 do
    local _, first, _, last = string.match(spans[i + 1], '^(%d+):(%d+):(%d+):(%d+)$')
    local gain = tonumber(last) - tonumber(first)
    if gain ~= 0 then
      local total = redis.call('HINCRBY', KEYS[2], spans[i], -gain)
      if total > 0 then
        redis.call('ZADD', KEYS[1], -total, spans[i])
      else
        redis.call('ZREM', KEYS[1], spans[i])
        if total == 0 then redis.call('HDEL', KEYS[2], spans[i]) end
      end
    end
  end
  redis.call('DEL', key)
end
redis.call('HSET', KEYS[2], 'from', wanted)
return 1
"""

# A build's start. KEYS: the board's set and hash. ARGV: the spans' key prefix, the
# window's first hour, the last hour to clear, the build's token.
_START = """
redis.call('DEL', KEYS[1], KEYS[2])
for hour = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  redis.call('DEL', ARGV[1] .. string.format('%d', hour))
end
redis.call('HSET', KEYS[2], 'from', ARGV[2], 'building', ARGV[4])
return 1
"""


def hour_of(when: datetime) -> int:
    """The hours since 1970 (UTC) to the start of the hour holding `when`."""
    return int(when.timestamp()) // HOUR


def start_of(name: str, now: datetime | None = None) -> datetime:
    """The start of the `name` window now (default): the start of the hour WINDOWS[name]
    hours before the current one."""
    return datetime.fromtimestamp(_first_hour(name, now) * HOUR, UTC)


def _first_hour(name: str, now: datetime | None = None) -> int:
    return hour_of(now or timezone.now()) - WINDOWS[name]


def matching(since: datetime, now: datetime | None = None) -> str | None:
    """The rolling window (shortest first) that starts exactly at `since` now; None."""
    for name in WINDOWS:
        if start_of(name, now) == since:
            return name
    return None


def _name(currency: str, name: str) -> str:
    return f"ranks:{currency}:roll:{name}"


def _keys(currency: str, name: str) -> tuple[list[str], str]:
    """The board's set and hash, and the prefix of its hours' span keys."""
    base = _name(currency, name)
    keys = [cache.make_key(base), cache.make_key(f"{base}:totals")]
    return keys, cache.make_key(f"{base}:hour:")


# --- reading ---------------------------------------------------------------------------


def window(
    currency: str, limit: int, around: int | None, name: str, *, now: datetime | None = None
) -> list[dict] | None:
    """The `limit` rows from the top (or centred on member `around`) of what each member
    gained in the `name` window, as `dashboard.ranks.window` answers: [] if `around` has
    no place, None when the board cannot say (no Redis; not built: a build is queued)."""
    client = ranks._client()
    if client is None:
        return None
    keys, prefix = _keys(currency, name)
    member = "" if around is None else ranks._member(around)
    pipe = client.pipeline(transaction=False)  # one round trip: move on, then read
    pipe.eval(_ADVANCE, 2, *keys, prefix, _first_hour(name, now), WINDOWS[name])
    pipe.eval(ranks._READ, 2, *keys, limit, member, 1, 0)
    try:
        _, out = pipe.execute()
    except Exception as exc:
        logger.warning("rolling ranks of %s unavailable, reading the database: %s", currency, exc)
        return None
    return ranks.rows_of(out, lambda: request_build(currency, name), period=True)


def held(currency: str, name: str, member_ids) -> tuple[datetime, dict[int, int | None]] | None:
    """The start of the `name` board's window as it stands (not moved on) and each of
    these members' total on it (None: not ranked, no gain); None when it is not built (the
    integrity check compares this with the database)."""
    client = ranks._client()
    if client is None:
        return None
    zset, totals = _keys(currency, name)[0]
    pipe = client.pipeline(transaction=True)
    pipe.hget(totals, ranks.BUILT)
    pipe.hget(totals, "inexact")
    pipe.hget(totals, "from")
    pipe.zscore(zset, ranks.SENTINEL)
    for member in map(ranks._member, member_ids):
        pipe.zscore(zset, member)
    built, inexact, first, marked, *scores = pipe.execute()
    if not built or inexact or first is None or marked is None:
        return None
    start = datetime.fromtimestamp(int(first) * HOUR, UTC)
    return start, {
        member_id: None if score is None else -int(score)
        for member_id, score in zip(member_ids, scores, strict=True)
    }


# --- building --------------------------------------------------------------------------


def request_build(currency: str, name: str) -> None:
    """Queue a build of a rolling board unless one was queued in the last
    BUILD_LOCK_SECONDS (released when the build ends)."""
    client = ranks._client()
    lock = cache.make_key(f"{_name(currency, name)}:building")
    if client is None or not client.set(lock, 1, nx=True, ex=ranks.BUILD_LOCK_SECONDS):
        return
    try:  # by name: dashboard.tasks imports this module
        current_app.send_task("dashboard.tasks.build_rolling", args=[currency, name])
    except Exception as exc:  # no broker: the next read asks again once the lock lapses
        logger.warning("could not queue a build of %s: %s", _name(currency, name), exc)


# The member postings of a currency from a time on, with their transfer's time (by
# transfer id from the first transfer then: ledger.queries.SINCE_FIRST says why).
_POSTINGS = (
    "SELECT a.member_id, t.created_at, p.amount, p.balance_after, p.version"
    " FROM ledger_transfer t JOIN ledger_posting p ON p.transfer_id = t.id"
    " JOIN ledger_account a ON a.id = p.account_id"
    " JOIN ledger_currency c ON c.id = a.currency_id"
    " WHERE c.code = %s AND a.member_id IS NOT NULL AND t.created_at >= %s"
    f" AND p.transfer_id >= {SINCE_FIRST}"
)


def build(currency: str, name: str) -> int:
    """Empty the `name` board of `currency` and the spans of its window, replay the
    window's postings into it and mark it built (only if no later build, drop or
    `ranks.forget` came meanwhile). The number of postings replayed (0, nothing marked,
    for an unknown currency or window)."""
    from ledger.models import Currency

    client = ranks._client()
    if client is None or name not in WINDOWS:
        return 0
    keys, prefix = _keys(currency, name)
    token = uuid.uuid4().hex
    lock = cache.make_key(f"{_name(currency, name)}:building")
    client.set(lock, token, ex=ranks.BUILD_LOCK_SECONDS)  # this build's now
    try:
        if not Currency.objects.filter(code=currency).exists():
            return 0
        first = _first_hour(name)
        client.eval(_START, 2, *keys, prefix, first, hour_of(timezone.now()) + 1, token)
        since = datetime.fromtimestamp(first * HOUR, UTC)
        count = 0
        with connection.chunked_cursor() as cursor:  # server-side: streamed, not loaded
            cursor.execute(_POSTINGS, [currency, since, since])
            while rows := cursor.fetchmany(ranks.CHUNK):
                _write(client, keys, prefix, name, rows)
                count += len(rows)
        client.eval(ranks._MARK, 2, *keys, token, 0)
        return count
    finally:
        client.eval(ranks._UNLOCK, 1, lock, token)


def _write(client, keys, prefix: str, name: str, rows) -> None:
    """(member, time, amount, balance, version) rows into the board (a client or a
    pipeline)."""
    args: list = [ranks.EXACT, prefix, KEEP_HOURS[name]]
    for member_id, at, amount, balance, version in rows:
        args += [ranks._member(member_id), hour_of(at), amount, balance, version]
    if len(args) > 3:
        client.eval(_APPLY, 2, *keys, *args)


# --- the relay's part ------------------------------------------------------------------


def apply_many(events) -> None:
    """The relay's handler: add the postings of `events` to every rolling board that
    exists (raises if Redis is away: the relay then tries the batch again, which adds
    nothing already added)."""
    client = ranks._client()
    if client is None:
        return
    pipe = client.pipeline(transaction=False)  # one round trip for every board
    for currency, moves in ranks.moves_of(events).items():
        rows = [(m, at, a, b, v) for m, a, b, v, at in moves if v]  # opened: no gain
        for name in WINDOWS:
            _write(pipe, *_keys(currency, name), name, rows)
    pipe.execute()


@batched(apply_many)
def note(event) -> None:
    """The writer's post-commit handler: nothing (the relay moves the boards, in order)."""

"""The last 24 hours' and the last 7 days' leaderboards, kept by the relay in Redis beside
the boards of dashboard.ranks (whose sorted sets, marks, reads and builds' rules they
share): what each member gained since the start of the hour 24 (168) hours before the
current one. The window moves on by whole hours, so it reaches back 24 to 25 hours (7
days to 7 days and an hour).

A rolling board is:
- per hour of its window, a hash of that hour's member postings (`...:hour:<n>`, n the
  hours since 1970 in UTC; field `<member>:<version>`, the posting's amount), hours timed
  by their transfer, as the query times them;
- a hash of each wallet's total over the window's hours, with the window's first hour
  (`from`) and a mark per hour it holds postings of; and the sorted set of the wallets
  whose total is above 0 (score: minus it), as the query's `since` ranks.
A posting is added to its hour and to the wallet's total only if its (member, version)
is new to that hour, in one script: applied twice, late, out of order or beside a build,
it counts once, and the total is exactly the sum of the window's postings (no caveat
about versions committed out of time order, as a period's span has). Moving the window
on (`from` to a later hour) subtracts the hours that left and deletes them: each relay
batch and each read does it first, by at most MAX_LAG_HOURS (further behind, the board
is dropped and rebuilt: no one script subtracts more than a few hours). Postings of an
hour before `from` are ignored. A marked hour whose key is gone (evicted, deleted) drops
the board, as its totals could no longer be kept right. With no board (never read,
dropped, evicted) the relay keeps nothing for it.

A build empties the board and the hours of its window, claims it (a token), then replays
the window's postings through the relay's own script, so that the relay's moves meanwhile
and the build's count each posting once; it marks the board built as dashboard.ranks
does. A read whose clock is behind the board's window (another process moved it on at
the hour's turn) gets None: the query answers. Without Redis there are no rolling boards:
every read is the query."""

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
# A read or a relay batch moves a window on by at most this many hours; further behind
# (nobody read it and no event came for that long), the board is dropped and rebuilt,
# so that no one script subtracts more than a few hours' postings.
MAX_LAG_HOURS = 3
# An hour's postings are kept this long past the hour's end: until the window has left
# it (and a margin), however late it moves on.
KEEP_HOURS = {name: hours + MAX_LAG_HOURS + 24 for name, hours in WINDOWS.items()}

# Both scripts' step: add `amount` (an integer's text) to a member's total, ranked while
# above 0, its field dropped at 0. KEYS: the board's set and hash.
_ADD = """
local function add(member, amount)
  local total = redis.call('HINCRBY', KEYS[2], member, amount)
  if total > 0 then
    redis.call('ZADD', KEYS[1], -total, member)
  else
    redis.call('ZREM', KEYS[1], member)
    if total == 0 then redis.call('HDEL', KEYS[2], member) end
  end
end
"""

# The board's hash holds 'h:<hour>' for every hour whose postings it holds: an hour's key
# gone while so marked (evicted, deleted) drops the board (rebuilt on the next read), as
# its totals could no longer be kept right.
# KEYS: the board's set and hash. ARGV: EXACT, the hours' key prefix, hours kept after an
# hour's end, then (member, hour, amount, balance, version) per posting.
_APPLY = (
    _ADD
    + """
local from = tonumber(redis.call('HGET', KEYS[2], 'from') or '-1')
if from < 0 then return 0 end
local exact, prefix, keep = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local known, timed = {}, {}
for i = 4, #ARGV, 5 do
  local member, hour = ARGV[i], tonumber(ARGV[i + 1])
  if hour >= from then
    local key = prefix .. ARGV[i + 1]
    if not known[key] then
      if redis.call('EXISTS', key) == 0 then
        if redis.call('HSETNX', KEYS[2], 'h:' .. ARGV[i + 1], 1) == 0 then
          redis.call('DEL', KEYS[1], KEYS[2])
          return 0
        end
      end
      known[key] = true
    end
    if redis.call('HSETNX', key, member .. ':' .. ARGV[i + 4], ARGV[i + 2]) == 1 then
      if not timed[key] then  -- once per hour and batch: the time is the hour's
        redis.call('EXPIREAT', key, (hour + 1 + keep) * 3600)
        timed[key] = true
      end
      add(member, ARGV[i + 2])
      if tonumber(ARGV[i + 3]) > exact then redis.call('HSET', KEYS[2], 'inexact', 1) end
    end
  end
end
return 1
"""
)

# KEYS: the board's set and hash. ARGV: the hours' key prefix, the window's first hour
# now, MAX_LAG_HOURS. Returns the board's first hour after moving on (it may be ahead of
# the caller's clock: another process's moved it); -1: no board (none, or dropped).
_ADVANCE = (
    _ADD
    + """
local from = tonumber(redis.call('HGET', KEYS[2], 'from') or '-1')
local wanted = tonumber(ARGV[2])
if from < 0 then return -1 end
if wanted <= from then return from end
if wanted - from > tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return -1
end
for hour = from, wanted - 1 do
  local h = string.format('%d', hour)
  local key = ARGV[1] .. h
  if redis.call('HEXISTS', KEYS[2], 'h:' .. h) == 1 then
    if redis.call('EXISTS', key) == 0 then
      redis.call('DEL', KEYS[1], KEYS[2])
      return -1
    end
    local rows = redis.call('HGETALL', key)
    for i = 1, #rows, 2 do
      local member = string.match(rows[i], '^(%d+):')
      local amount = rows[i + 1]
      local minus = string.sub(amount, 1, 1) == '-' and string.sub(amount, 2) or '-' .. amount
      add(member, minus)
    end
    redis.call('DEL', key)
    redis.call('HDEL', KEYS[2], 'h:' .. h)
  end
end
redis.call('HSET', KEYS[2], 'from', wanted)
return wanted
"""
)

# A build's start. KEYS: the board's set and hash. ARGV: the hours' key prefix, the
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
    """The board's set and hash, and the prefix of its hours' keys."""
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
    wanted = _first_hour(name, now)
    pipe = client.pipeline(transaction=False)  # one round trip: move on, then read
    pipe.eval(_ADVANCE, 2, *keys, prefix, wanted, MAX_LAG_HOURS)
    pipe.eval(ranks._READ, 2, *keys, limit, member, 1, 0)
    try:
        first, out = pipe.execute()
    except Exception as exc:
        logger.warning("rolling ranks of %s unavailable, reading the database: %s", currency, exc)
        return None
    if first >= 0 and first != wanted:
        return None  # moved on by a clock ahead of this one: not the window asked for
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
    """Empty the `name` board of `currency` and the hours of its window, replay the
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
            keys, prefix = _keys(currency, name)
            pipe.eval(_ADVANCE, 2, *keys, prefix, _first_hour(name), MAX_LAG_HOURS)
            _write(pipe, keys, prefix, name, rows)
    pipe.execute()


@batched(apply_many)
def note(event) -> None:
    """The writer's post-commit handler: nothing (the relay moves the boards, in order)."""

"""Every member's rank, kept by the relay in Redis: the API's leaderboards all time (around
any member, pages past the cached top) and for the current day, week and month, without
ranking a million wallets or summing a week of postings per read.

Each board is a sorted set (member: the member id zero-padded, so equal amounts list by
member id, as `ledger.queries.leaderboard` does; score: minus the amount) and a hash:
- **All time** (`ranks:<currency>`): the score is minus the balance; the hash holds each
  wallet's version (the postings it has had). A wallet moves only to a higher version
  than the one held (`transfer.posted` carries each wallet's balance and version after
  it; a registration's new wallets are version 0).
- **A period** (`ranks:<currency>:<day|week|month>:<first day>`, days in UTC, Django's
  TIME_ZONE): the hash holds, per wallet, the version and balance before its first
  posting of the period and after its last (`lo:start:hi:end`); the score is minus
  `end - start`, what the balance gained over the period. Ranked are the wallets that
  gained (> 0), as the query's `since` the period's start. A posting only ever widens a
  span outward. A period's keys expire two days after it ends.
- The last 24 hours and 7 days: dashboard.rolling, beside these (their own relay handler).
Either way applying a move twice, out of order or beside a build changes nothing already
newer or wider: the relay and a build can write at once.

A board is read only once built: `build` empties it, writes what the database holds
(every wallet; every posting of the period), then marks it (a `built` field in the hash
and a sentinel member `~` at +inf in the set, so that losing either key to eviction or a
Redis restart unmarks it), but only if it is still its own (a token written after the
delete: a later build or `forget` meanwhile leaves it unmarked). Unmarked, the reader
answers None (its caller asks the database) and queues a build on Celery. After a
change the relay never saw (a restore, a bulk load), `forget` drops every board.
Without Redis (embedded defaults) there are no boards: None always.

A period's gain is its last balance minus its first, which is the sum of its postings
unless two transfers to one wallet, timed a moment apart across the period's start,
committed in the opposite order (the query counts by time, the board by version).
Scores are exact up to 2**53; a balance past EXACT flags its board `inexact`, which then
stays on the database's answer (no build is queued) until `forget`."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta

from celery import current_app
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from dashboard.scopes import TRANSFER_POSTED
from events.log import batched
from ledger.queries import SINCE_FIRST

logger = logging.getLogger(__name__)

PERIODS = ("day", "week", "month")
BUILT = "built"  # the hash field that marks a board complete (members are digits)
SENTINEL = "~"  # the set's mark, at +inf: after every member, outside every count
EXACT = 2**52  # below 2**53, so that Lua's doubles compare a balance to it exactly
CHUNK = 20_000  # rows per round trip while building
BUILD_LOCK_SECONDS = 600
KEEP_AFTER_PERIOD = timedelta(days=2)

# ARGV: EXACT, then (member, balance, version) triples. Numbers reach Redis as the strings
# they came as (Lua prints numbers past 14 digits rounded).
_APPLY = """
local exact = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  local member, balance, version = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local held = tonumber(redis.call('HGET', KEYS[2], member) or '-1')
  if tonumber(version) > held then
    redis.call('HSET', KEYS[2], member, version)
    redis.call('ZADD', KEYS[1], '-' .. balance, member)
    if tonumber(balance) > exact then redis.call('HSET', KEYS[2], 'inexact', 1) end
  end
end
return 1
"""

# ARGV: EXACT, the keys' expiry (unix time), then (member, amount, balance, version).
_APPLY_PERIOD = """
local exact = tonumber(ARGV[1])
for i = 3, #ARGV, 4 do
  local member, amount = ARGV[i], tonumber(ARGV[i + 1])
  local balance, version = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local span = redis.call('HGET', KEYS[2], member)
  local lo, first, hi, last
  if span then
    local a, b, c, d = string.match(span, '^(%d+):(%d+):(%d+):(%d+)$')
    lo, first, hi, last = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  end
  local changed = false
  if not span or version < lo then lo, first, changed = version, balance - amount, true end
  if not span or version > hi then hi, last, changed = version, balance, true end
  if changed then
    redis.call('HSET', KEYS[2], member, string.format('%d:%d:%d:%d', lo, first, hi, last))
    redis.call('ZADD', KEYS[1], string.format('%d', first - last), member)
    if balance > exact then redis.call('HSET', KEYS[2], 'inexact', 1) end
  end
end
redis.call('EXPIREAT', KEYS[1], ARGV[2])
redis.call('EXPIREAT', KEYS[2], ARGV[2])
return 1
"""

# ARGV: limit, member ('' for the rows from `offset`), '1' to rank only scores below 0 (a
# period's gains), offset. Returns {} if not built; {2} if a balance is past EXACT; {0}
# if the member holds no place; else {1, then per row: member, score, rank}: the
# competition rank, 1 + the members strictly above.
_READ = """
if redis.call('HEXISTS', KEYS[2], 'inexact') == 1 then return {2} end
if redis.call('HEXISTS', KEYS[2], 'built') == 0 or not redis.call('ZSCORE', KEYS[1], '~') then
  return {}
end
local limit, start, gains = tonumber(ARGV[1]), tonumber(ARGV[4]), ARGV[3] == '1'
if ARGV[2] ~= '' then
  local position = redis.call('ZRANK', KEYS[1], ARGV[2])
  if not position then return {0} end
  if gains and tonumber(redis.call('ZSCORE', KEYS[1], ARGV[2])) >= 0 then return {0} end
  start = math.max(0, position - math.floor(limit / 2))
end
local rows = redis.call('ZRANGE', KEYS[1], start, start + limit - 1, 'WITHSCORES')
local out = {1}
for i = 1, #rows, 2 do
  if rows[i] == '~' or (gains and tonumber(rows[i + 1]) >= 0) then break end
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = 1 + redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. rows[i + 1])
end
return out
"""


# A build's end: mark the board built only if it is still this build's (ARGV[1], the
# token written after its delete: a later build, or `forget`, replaced or removed it) and
# no balance past EXACT came meanwhile; ARGV[2]: the keys' expiry (0: none).
_MARK = """
if redis.call('HGET', KEYS[2], 'building') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], 'building')
redis.call('ZADD', KEYS[1], 'inf', '~')
if tonumber(ARGV[2]) > 0 then
  redis.call('EXPIREAT', KEYS[1], ARGV[2])
  redis.call('EXPIREAT', KEYS[2], ARGV[2])
end
if redis.call('HEXISTS', KEYS[2], 'inexact') == 1 then return 0 end
redis.call('HSET', KEYS[2], 'built', 1)
return 1
"""

# Release a lock only if it is still ours (ARGV[1]).
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _client():
    from dashboard.cache import _redis_client

    return _redis_client()


def _name(currency: str, period: tuple[str, date] | None) -> str:
    if period is None:
        return f"ranks:{currency}"
    return f"ranks:{currency}:{period[0]}:{period[1].isoformat()}"


def _keys(currency: str, period: tuple[str, date] | None = None) -> list[str]:
    name = _name(currency, period)
    return [cache.make_key(name), cache.make_key(f"{name}:{'spans' if period else 'versions'}")]


def _member(member_id: int) -> str:
    return f"{member_id:012d}"


# --- periods (TIME_ZONE) ---------------------------------------------------------------


def period_start(kind: str, when: datetime) -> date:
    """The first day of the `kind` period holding `when`: the day, its week's Monday, the
    first of its month."""
    day = timezone.localtime(when).date()
    if kind == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if kind == "month" else day


def period_bounds(kind: str, first: date) -> tuple[datetime, datetime]:
    """The period's start and end, as aware times."""
    if kind == "day":
        after = first + timedelta(days=1)
    elif kind == "week":
        after = first + timedelta(days=7)
    else:
        after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    zone = timezone.get_current_timezone()
    return (
        datetime.combine(first, datetime.min.time(), zone),
        datetime.combine(after, datetime.min.time(), zone),
    )


def current(kind: str, now: datetime | None = None) -> tuple[str, date]:
    """The `kind` period holding `now` (default: now), as `window` takes it."""
    return kind, period_start(kind, now or timezone.now())


def current_period(since: datetime, now: datetime | None = None) -> tuple[str, date] | None:
    """The period (shortest first) whose board `since` asks for: `since` is the start of
    the current day, week or month; None otherwise."""
    for kind in PERIODS:
        period = current(kind, now)
        if period_bounds(*period)[0] == since:
            return period
    return None


# --- reading ---------------------------------------------------------------------------


def window(
    currency: str,
    limit: int,
    around: int | None = None,
    period: tuple[str, date] | None = None,
    *,
    offset: int = 0,
) -> list[dict] | None:
    """The `limit` rows from the top (`offset` rows down; or centred on member `around`)
    of `currency` all time, or of a `period` ((kind, first day): what each member gained
    since its start), as the query's ranks and order, names left to the caller
    (`display_name` None). [] if
    `around` has no place on a period's board; None when the board cannot say (no Redis;
    not built: a build is queued; all time, a member without a place: a wallet opened
    with no event)."""
    client = _client()
    if client is None:
        return None
    span = period
    member = "" if around is None else _member(around)
    try:
        out = client.eval(
            _READ, 2, *_keys(currency, span), limit, member, int(span is not None), offset
        )
    except Exception as exc:
        logger.warning("ranks of %s unavailable, reading the database: %s", currency, exc)
        return None
    return rows_of(out, lambda: request_build(currency, span), period=span is not None)


def rows_of(out: list, missing, *, period: bool) -> list[dict] | None:
    """The rows of a `_READ`'s answer, as `window` returns them; `missing()` is called when
    the board is not built (a `period` board: gains; [] for a member with no place)."""
    if not out:
        missing()
        return None
    if out == [2]:
        return None  # a balance past what a score holds exactly: the query, always
    if out == [0]:
        return [] if period else None
    return [
        {
            "rank": int(out[i + 2]),
            "member_id": int(out[i]),
            "display_name": None,
            "amount": -int(float(out[i + 1])),
        }
        for i in range(1, len(out), 3)
    ]


def held(currency: str, member_ids) -> dict[int, tuple[int | None, int | None]] | None:
    """What the all-time board holds of these members' wallets: {member id: (balance,
    version)}, (None, None) for one it does not hold; None when it is not built (the
    integrity check compares this with the database)."""
    client = _client()
    if client is None:
        return None
    zset, versions = _keys(currency)
    pipe = client.pipeline(transaction=True)
    pipe.hexists(versions, BUILT)
    pipe.hexists(versions, "inexact")
    pipe.zscore(zset, SENTINEL)
    for member in map(_member, member_ids):
        pipe.zscore(zset, member)
        pipe.hget(versions, member)
    built, inexact, marked, *values = pipe.execute()
    if not built or inexact or marked is None:
        return None
    return {
        member_id: (
            None if score is None else -int(score),
            None if version is None else int(version),
        )
        for member_id, score, version in zip(member_ids, values[::2], values[1::2], strict=True)
    }


# --- building --------------------------------------------------------------------------


def request_build(currency: str, period: tuple[str, date] | None = None) -> None:
    """Queue a build of a board unless one was queued in the last BUILD_LOCK_SECONDS
    (the lock is released when the build ends)."""
    client = _client()
    lock = cache.make_key(f"{_name(currency, period)}:building")
    if client is None or not client.set(lock, 1, nx=True, ex=BUILD_LOCK_SECONDS):
        return
    args = [currency] if period is None else [currency, period[0], period[1].isoformat()]
    try:  # by name: dashboard.tasks imports this module
        current_app.send_task("dashboard.tasks.build_ranks", args=args)
    except Exception as exc:  # no broker: the next read asks again once the lock lapses
        logger.warning("could not queue a build of %s: %s", _name(currency, period), exc)


def build(currency: str, kind: str | None = None, first: str | None = None) -> int:
    """Empty a board and write what the database holds into it, then mark it built: the
    all-time board of `currency`, or its `kind` period starting on `first` (ISO date).
    The number of rows written (0, nothing marked, for an unknown currency). Runs beside
    the relay (see the module); marks only if no later build or `forget` came meanwhile."""
    from ledger.models import Currency

    client = _client()
    if client is None:
        return 0
    period = None if kind is None else (kind, date.fromisoformat(first))
    keys, token = _keys(currency, period), uuid.uuid4().hex
    lock = cache.make_key(f"{_name(currency, period)}:building")
    client.set(lock, token, ex=BUILD_LOCK_SECONDS)  # this build's now
    try:
        if not Currency.objects.filter(code=currency).exists():
            return 0
        started = client.pipeline(transaction=True)
        started.delete(*keys)
        started.hset(keys[1], "building", token)
        started.execute()
        count = 0
        with connection.chunked_cursor() as cursor:  # server-side: streamed, not loaded
            if period is None:
                cursor.execute(
                    "SELECT a.member_id, a.balance, a.version FROM ledger_account a"
                    " JOIN ledger_currency c ON c.id = a.currency_id"
                    " WHERE c.code = %s AND a.member_id IS NOT NULL",
                    [currency],
                )
            else:
                start, end = period_bounds(*period)
                cursor.execute(_PERIOD_POSTINGS, [currency, start, end, start])
            while rows := cursor.fetchmany(CHUNK):
                _write(client, keys, period, rows)
                count += len(rows)
        expiry = 0 if period is None else _expiry(period)
        client.eval(_MARK, 2, *keys, token, expiry)
        return count
    finally:
        client.eval(_UNLOCK, 1, lock, token)


def forget() -> int:
    """Drop every board (after a change the relay never saw: a bulk load, a restore);
    the number of keys dropped. Each is rebuilt by the next read that needs it."""
    if _client() is None:
        return 0
    return cache.delete_pattern("ranks:*") or 0


# The member postings of a currency in a period (its transfers' times), by transfer id
# from the period's first transfer (ledger.queries.SINCE_FIRST says why).
_PERIOD_POSTINGS = (
    "SELECT a.member_id, p.amount, p.balance_after, p.version"
    " FROM ledger_transfer t JOIN ledger_posting p ON p.transfer_id = t.id"
    " JOIN ledger_account a ON a.id = p.account_id"
    " JOIN ledger_currency c ON c.id = a.currency_id"
    " WHERE c.code = %s AND a.member_id IS NOT NULL AND t.created_at >= %s"
    f" AND t.created_at < %s AND p.transfer_id >= {SINCE_FIRST}"
)


def _expiry(period: tuple[str, date]) -> int:
    return int((period_bounds(*period)[1] + KEEP_AFTER_PERIOD).timestamp())


def _write(client, keys, period, rows) -> None:
    """All time: (member, balance, version) rows; a period: (member, amount, balance,
    version) rows."""
    if not rows:
        return
    script, args = (
        (_APPLY, [EXACT]) if period is None else (_APPLY_PERIOD, [EXACT, _expiry(period)])
    )
    for member_id, *rest in rows:
        args += [_member(member_id), *rest]
    client.eval(script, 2, *keys, *args)


# --- the relay's part ------------------------------------------------------------------


def moves_of(events) -> dict[str, list[tuple[int, int, int, int, datetime]]]:
    """(member id, amount, balance, version, time) of every member wallet `events` moved
    or opened (amount 0, version 0), by currency."""
    from ledger.models import Currency

    moves: dict[str, list[tuple[int, int, int, int, datetime]]] = {}
    currencies = None
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.kind == TRANSFER_POSTED:
            for posting in data.get("postings") or []:
                if posting.get("member_id") is not None and posting.get("version") is not None:
                    move = (
                        posting["member_id"],
                        posting["amount"],
                        posting["balance"],
                        posting["version"],
                        event.created_at,
                    )
                    moves.setdefault(data.get("currency", ""), []).append(move)
        elif event.kind == "member.registered" and isinstance(data.get("member_id"), int):
            if currencies is None:
                currencies = list(
                    Currency.objects.filter(opens_on_signup=True).values_list("code", flat=True)
                )
            for code in currencies:  # registration opens a wallet of each, empty
                moves.setdefault(code, []).append((data["member_id"], 0, 0, 0, event.created_at))
    return moves


def apply_many(events) -> None:
    """The relay's handler: move the wallets `events` moved on every board they touch
    (raises if Redis is away: the relay then tries the batch again, which changes nothing
    already applied)."""
    client = _client()
    if client is None:
        return
    pipe = client.pipeline(transaction=False)  # one round trip for every board
    for currency, moves in moves_of(events).items():
        _write(pipe, _keys(currency), None, [(m, b, v) for m, _a, b, v, _t in moves])
        for kind in PERIODS:
            periods: dict[date, list] = {}
            for member_id, amount, balance, version, at in moves:
                if version:  # an opened wallet gains nothing
                    periods.setdefault(period_start(kind, at), []).append(
                        (member_id, amount, balance, version)
                    )
            for first, rows in periods.items():
                period = (kind, first)
                _write(pipe, _keys(currency, period), period, rows)
    pipe.execute()


@batched(apply_many)
def note(event) -> None:
    """The writer's post-commit handler: nothing (the relay moves the boards, in order)."""

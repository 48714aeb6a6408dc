"""Every member's all-time rank, kept by the relay in Redis: the API's leaderboard around
any member, and its pages past the cached top, without ranking a million wallets per read.

A currency's ranks are a sorted set (score: minus the balance; member: the member id
zero-padded, so equal balances list by member id, as `ledger.queries.leaderboard` does)
and a hash of each wallet's version (the postings it has had). The relay moves a wallet
only to a higher version than the one held (`transfer.posted` carries each wallet's
balance and version after it; a registration's new wallets are version 0), so applying
a batch twice, out of order or beside a build changes nothing that is already newer.

A store is read only once it is built: `build` empties it, then writes every wallet of
the database (the relay's moves land beside it; the higher version wins either way),
then marks it built in the hash. If a key is lost (eviction, a Redis restart), the mark
or the set is gone, the reader answers None (its caller asks the database) and a build is
queued. Without Redis (embedded defaults) there is no store: None always.

Scores are exact for balances up to 2**53 (MAX_AMOUNT is 10**15); a wallet past EXACT
unmarks the store, which then stays on the database's answer."""

from __future__ import annotations

import logging

from celery import current_app
from django.core.cache import cache
from django.db import connection

from dashboard.scopes import TRANSFER_POSTED
from events.log import batched

logger = logging.getLogger(__name__)

BUILT = "built"  # the hash field that marks a store complete (members are digits)
EXACT = 2**52  # below 2**53, so that Lua's doubles compare a balance to it exactly
CHUNK = 20_000  # wallets per round trip while building
BUILD_LOCK_SECONDS = 600

# ARGV: (member, balance, version) triples, then EXACT. A wallet moves only to a higher
# version. Numbers go to Redis as the strings they came as (Lua would round past 14 digits).
_APPLY = """
local exact = tonumber(ARGV[#ARGV])
for i = 1, #ARGV - 1, 3 do
  local member, balance, version = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local held = tonumber(redis.call('HGET', KEYS[2], member) or '-1')
  if tonumber(version) > held then
    redis.call('HSET', KEYS[2], member, version)
    redis.call('ZADD', KEYS[1], '-' .. balance, member)
    if tonumber(balance) > exact then redis.call('HDEL', KEYS[2], 'built') end
  end
end
return 1
"""

# ARGV: limit, member ('' for the top). Returns {} if not built, {false} if the member
# holds no place, else {rows...} as member, score pairs then one rank per row: the
# competition rank, 1 + the wallets strictly above.
_READ = """
if redis.call('HEXISTS', KEYS[2], 'built') == 0 or redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local limit, start = tonumber(ARGV[1]), 0
if ARGV[2] ~= '' then
  local position = redis.call('ZRANK', KEYS[1], ARGV[2])
  if not position then return {false} end
  start = math.max(0, position - math.floor(limit / 2))
end
local rows = redis.call('ZRANGE', KEYS[1], start, start + limit - 1, 'WITHSCORES')
local out = {}
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = 1 + redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. rows[i + 1])
end
return out
"""


def _client():
    from dashboard.cache import _redis_client

    return _redis_client()


def _keys(currency: str) -> list[str]:
    return [cache.make_key(f"ranks:{currency}"), cache.make_key(f"ranks:{currency}:versions")]


def _member(member_id: int) -> str:
    return f"{member_id:012d}"


def window(currency: str, limit: int, around: int | None = None) -> list[dict] | None:
    """The `limit` rows from the top (or centred on member `around`), as the query's
    ranks and order, names left to the caller (`display_name` None); [] if `around` has
    no wallet of `currency`; None when the store cannot say (no Redis, not built: a build
    is queued)."""
    client = _client()
    if client is None:
        return None
    member = "" if around is None else _member(around)
    try:
        out = client.eval(_READ, 2, *_keys(currency), limit, member)
    except Exception as exc:
        logger.warning("ranks of %s unavailable, reading the database: %s", currency, exc)
        return None
    if not out:
        request_build(currency)
        return None
    if out == [None]:
        return None  # a wallet opened with no event: the database knows (and may say [])
    return [
        {
            "rank": int(out[i + 2]),
            "member_id": int(out[i]),
            "display_name": None,
            "amount": -int(float(out[i + 1])),
        }
        for i in range(0, len(out), 3)
    ]


def held(currency: str, member_ids) -> dict[int, tuple[int | None, int | None]] | None:
    """What the store holds of these members' wallets: {member id: (balance, version)},
    (None, None) for one it does not hold; None when it is not built (the integrity
    check compares this with the database)."""
    client = _client()
    if client is None:
        return None
    zset, versions = _keys(currency)
    members = [_member(m) for m in member_ids]
    pipe = client.pipeline(transaction=True)
    pipe.hexists(versions, BUILT)
    for member in members:
        pipe.zscore(zset, member)
        pipe.hget(versions, member)
    built, *values = pipe.execute()
    if not built:
        return None
    return {
        member_id: (
            None if score is None else -int(score),
            None if version is None else int(version),
        )
        for member_id, score, version in zip(member_ids, values[::2], values[1::2], strict=True)
    }


def request_build(currency: str) -> None:
    """Queue a build of `currency`'s store unless one was queued in the last
    BUILD_LOCK_SECONDS (the lock is released when the build ends)."""
    client = _client()
    lock = cache.make_key(f"ranks:{currency}:building")
    if client is None or not client.set(lock, 1, nx=True, ex=BUILD_LOCK_SECONDS):
        return
    try:  # by name: dashboard.tasks imports this module
        current_app.send_task("dashboard.tasks.build_ranks", args=[currency])
    except Exception as exc:  # no broker: the next read asks again once the lock lapses
        logger.warning("could not queue a build of the ranks of %s: %s", currency, exc)


def build(currency: str) -> int:
    """Empty `currency`'s store and write every wallet of the currency into it, then
    mark it built; the number of wallets. Runs beside the relay (see the module)."""
    client = _client()
    if client is None:
        return 0
    keys = _keys(currency)
    try:
        client.delete(*keys)
        count = 0
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.member_id, a.balance, a.version FROM ledger_account a"
                " JOIN ledger_currency c ON c.id = a.currency_id"
                " WHERE c.code = %s AND a.member_id IS NOT NULL",
                [currency],
            )
            while rows := cursor.fetchmany(CHUNK):
                _apply(client, keys, [(m, b, v) for m, b, v in rows])
                count += len(rows)
        if _exact(client, keys):
            client.hset(keys[1], BUILT, 1)
        return count
    finally:
        client.delete(cache.make_key(f"ranks:{currency}:building"))


def _exact(client, keys) -> bool:
    """No wallet in the store is past EXACT (the highest balance is the lowest score)."""
    lowest = client.zrange(keys[0], 0, 0, withscores=True)
    return not lowest or -lowest[0][1] <= EXACT


def _apply(client, keys, moves) -> None:
    args: list = []
    for member_id, balance, version in moves:
        args += [_member(member_id), balance, version]
    if args:
        client.eval(_APPLY, 2, *keys, *args, EXACT)


def moves_of(events) -> dict[str, list[tuple[int, int, int]]]:
    """(member id, balance, version) of every member wallet `events` moved or opened,
    by currency."""
    from ledger.models import Currency

    moves: dict[str, list[tuple[int, int, int]]] = {}
    currencies = None
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.kind == TRANSFER_POSTED:
            for posting in data.get("postings") or []:
                if posting.get("member_id") is not None and posting.get("version") is not None:
                    move = (posting["member_id"], posting["balance"], posting["version"])
                    moves.setdefault(data.get("currency", ""), []).append(move)
        elif event.kind == "member.registered" and isinstance(data.get("member_id"), int):
            if currencies is None:
                currencies = list(Currency.objects.values_list("code", flat=True))
            for code in currencies:  # registration opens a wallet of each, empty
                moves.setdefault(code, []).append((data["member_id"], 0, 0))
    return moves


def apply_many(events) -> None:
    """The relay's handler: move the wallets `events` moved (raises if Redis is away: the
    relay then tries the batch again, which changes nothing already applied)."""
    client = _client()
    if client is None:
        return
    for currency, moves in moves_of(events).items():
        _apply(client, _keys(currency), moves)


@batched(apply_many)
def note(event) -> None:
    """The writer's post-commit handler: nothing (the relay moves the store, in order)."""

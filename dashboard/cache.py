"""Cache-aside for what screens read most: leaderboards, balances, member cards.

Each cached thing has a version key; its value is stored under `<name>:v<version>`. The
relay bumps the versions a batch of committed events touches (one pipelined round trip
per batch) before it broadcasts the batch, so a screen that re-reads on the event reads
fresh values. On embedded defaults the relay runs in the serving process, so its bump is
also what tells that process's local-memory cache about writes made by other processes.
A reader that computed a value from data older than a bump stores it under the old
version, which no one reads again. If the bump fails (Redis away), the relay tries the
batch again.

Read-your-writes costs the writer no round trip: after commit it notes, in its own
memory, the names its event touched and the event's seq (`invalidate`). Until the relay's
position has passed that seq, a read of such a name in this process computes from the
database and stores nothing (the relay's position is read then, only then).

Reads never depend on the cache: if it cannot be reached the value comes from the
database (and a warning is logged once a minute)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict

from django.core.cache import cache

from dashboard.scopes import TRANSFER_POSTED
from events.log import batched
from events.models import Event
from ops.metrics import CACHE_READS, cached_name

logger = logging.getLogger(__name__)

TIMEOUT = 300  # a value's lifetime, a backstop only: versions make it stale, not time
LEADERBOARD_DEPTH = 50
_last_warning = 0.0


def _warn(exc: Exception) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        logger.warning("cache unavailable, reading from the database: %s", exc)


def _version(name: str) -> int:
    return cache.get(f"v:{name}") or 0


# --- read-your-writes: what this process wrote that the relay has not bumped yet --------

DIRTY_MAX = 50_000  # names remembered; beyond, every name counts as written (until a seq)
_dirty: dict[str, int] = {}  # name -> the highest seq this process wrote touching it
_dirty_all = 0  # every name counts as written up to this seq (after an overflow)
_relayed = 0  # the relay's position as last read (or handled here)
_dirty_lock = threading.Lock()


def written(names, seq: int) -> None:
    """This process committed event `seq`, which touches `names`."""
    global _dirty_all
    with _dirty_lock:
        for name in names:
            if _dirty.get(name, 0) < seq:
                _dirty[name] = seq
        if len(_dirty) > DIRTY_MAX:
            _dirty_all = max(_dirty_all, *_dirty.values())
            _dirty.clear()


def relayed(seq: int) -> None:
    """Every event up to `seq` has had its bump: forget what it covers."""
    global _relayed, _dirty, _dirty_all
    with _dirty_lock:
        if seq <= _relayed:
            return
        _relayed = seq
        if _dirty_all <= seq:
            _dirty_all = 0
        if _dirty:
            _dirty = {name: at for name, at in _dirty.items() if at > seq}


def forget_written() -> None:
    """Forget what this process wrote (tests: the database was emptied)."""
    global _dirty, _dirty_all, _relayed
    with _dirty_lock:
        _dirty, _dirty_all, _relayed = {}, 0, 0


def unrelayed(name: str) -> bool:
    """This process wrote `name` in an event the relay has not bumped yet."""
    if not _dirty and not _dirty_all:
        return False
    if max(_dirty.get(name, 0), _dirty_all) <= _relayed:
        return False
    from events.models import RelayPosition
    from events.relay import NAME

    try:
        position = RelayPosition.objects.filter(name=NAME).values_list("seq", flat=True).first()
    except Exception:
        return True
    relayed(position or 0)
    return max(_dirty.get(name, 0), _dirty_all) > _relayed


def get_or_compute(name: str, compute, valid=None):
    """The cached value of `name`, or `compute()` stored at the current version (but only
    computed while this process's own write of it awaits the relay's bump). `valid(value)`
    false: a value of an older shape (written before a deploy), computed again."""
    label = cached_name(name)
    if unrelayed(name):
        CACHE_READS.labels(label, "bypass").inc()
        return compute()
    try:
        version = _version(name)
        key = f"{name}:v{version}"
        value = cache.get(key)
        if value is not None and (valid is None or valid(value)):
            CACHE_READS.labels(label, "hit").inc()
            return value
    except Exception as exc:
        _warn(exc)
        CACHE_READS.labels(label, "error").inc()
        return compute()
    CACHE_READS.labels(label, "miss").inc()
    value = compute()
    try:
        cache.set(key, value, TIMEOUT)
    except Exception as exc:
        _warn(exc)
    return value


def peek(name: str):
    """The value cached for `name` at its current version, or None (for the integrity
    check: never computes)."""
    return cache.get(f"{name}:v{_version(name)}")


def bump(*names: str) -> list[int]:
    """Make the current values of `names` stale; their new versions. Raises if the cache
    is unreachable."""
    keys = [f"v:{name}" for name in names]
    client = _redis_client()
    if client is not None:
        # One round trip: INCR creates a missing key at 1, and django-redis stores
        # integers as plain numbers, so `cache.get` reads them back.
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.incr(cache.make_key(key))
        return [int(v) for v in pipe.execute()]
    versions = []
    for key in keys:
        cache.add(key, 0, None)
        try:
            versions.append(cache.incr(key))
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, None)
            versions.append(1)
    return versions


def _redis_client():
    client = getattr(cache, "client", None)
    if client is None or not hasattr(client, "get_client"):
        return None
    return client.get_client(write=True)


# --- the cached things --------------------------------------------------------------


def leaderboard_name(currency: str) -> str:
    return f"lb:{currency}"


def balance_name(member_id: int, currency: str) -> str:
    return f"bal:{member_id}:{currency}"


def card_name(member_id: int) -> str:
    return f"card:{member_id}"


def leaderboard(currency: str, limit: int = 10) -> list[dict]:
    """The top `limit` (at most LEADERBOARD_DEPTH) of `currency` as plain dicts."""
    from ledger.queries import leaderboard as query

    def compute():
        rows = [asdict(row) for row in query(currency, limit=LEADERBOARD_DEPTH)]
        # Read after the query: no event above this seq had committed when it ran
        # (the relay patches the board only with events above it: `patched_board`).
        return {"seq": _latest_seq(), "rows": rows}

    # Boards were plain lists before the relay patched them: such a value is a miss.
    board = get_or_compute(leaderboard_name(currency), compute, valid=_is_board)
    return board["rows"][:limit]


def has_board(currency: str) -> bool:
    """Whether the board of `currency` is cached now (never computes it; False when the
    cache cannot answer)."""
    try:
        return _is_board(peek(leaderboard_name(currency)))
    except Exception as exc:
        _warn(exc)
        return False


def _is_board(value) -> bool:
    return isinstance(value, dict) and "rows" in value


def _latest_seq() -> int:
    return Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def balance(member_id: int, currency: str) -> int:
    from ledger.models import Account

    def compute():
        row = (
            Account.objects.filter(member_id=member_id, currency__code=currency)
            .values_list("balance", flat=True)
            .first()
        )
        return row or 0

    return get_or_compute(balance_name(member_id, currency), compute)


def member_card(member_id: int) -> dict | None:
    """Name, platforms, balances, achievements and streak of one member."""
    from accounts.models import Member
    from ledger.models import Account, MemberAchievement, Streak

    def compute():
        member = Member.objects.filter(pk=member_id).first()
        if member is None:
            return {}
        streak = Streak.objects.filter(member_id=member_id).first()
        return {
            "id": member.pk,
            "name": member.display_name,
            "platforms": sorted(member.identities.values_list("platform", flat=True)),
            "balances": dict(
                Account.objects.filter(member_id=member_id)
                .order_by("currency__code")
                .values_list("currency__code", "balance")
            ),
            "achievements": MemberAchievement.objects.filter(member_id=member_id).count(),
            "streak": streak.current if streak else 0,
        }

    return get_or_compute(card_name(member_id), compute) or None


def names_touched(event: Event) -> list[str]:
    """The cached things an event makes stale."""
    data = event.data if isinstance(event.data, dict) else {}
    names: list[str] = []
    if event.kind == TRANSFER_POSTED:
        currency = data.get("currency", "")
        names.append(leaderboard_name(currency))
        for posting in data.get("postings") or []:
            member_id = posting.get("member_id")
            if member_id is not None:
                names += [balance_name(member_id, currency), card_name(member_id)]
    elif isinstance(data.get("member_id"), int):
        names.append(card_name(data["member_id"]))
    if event.kind == "member.updated" and isinstance(data.get("member_id"), int):
        # A new display name changes every leaderboard the member is on.
        from ledger.models import Currency

        names += [
            leaderboard_name(code) for code in Currency.objects.values_list("code", flat=True)
        ]
    return names


def invalidate_many(events: Sequence[Event]) -> None:
    """The relay's handler: bump what `events` touched, each name once, in one round trip
    (raises if the cache is away: the relay then tries the batch again). A leaderboard
    the batch only moved wallets of is patched instead of recomputed where that is exact
    (`patched_board`): stored at the version the bump makes."""
    names: dict[str, None] = {}
    others: set[str] = set()  # names touched by something other than a posted transfer
    for event in events:
        touched = names_touched(event)
        names.update(dict.fromkeys(touched))
        if event.kind != TRANSFER_POSTED:
            others.update(touched)
    patches = {
        name: board
        for name in names
        if name.startswith("lb:") and name not in others
        for board in [_patch(name, events)]
        if board is not None
    }
    if names:
        versions = dict(zip(names, bump(*names), strict=True))
        for name, board in patches.items():
            with contextlib.suppress(Exception):  # a reader computes it then
                cache.set(f"{name}:v{versions[name]}", board, TIMEOUT)
    if events:
        relayed(max(event.seq for event in events))


# --- leaderboards patched by the relay ----------------------------------------------
#
# Recomputing a leaderboard reads every wallet of the currency (1.5 s with a million
# members), and every posted transfer bumps it. Each transfer.posted event carries each
# member wallet's balance after it, so the relay moves the cached board itself when it
# can prove the result is what the query would say; else it bumps, as before.


def _key(amount: int, member_id: int) -> tuple[int, int]:
    """The board's order (amount descending, then member id): smaller ranks higher."""
    return (-amount, member_id)


def patched_board(board: dict, moves: Sequence[tuple[int, int, int]]) -> dict | None:
    """`board` after `moves` ((seq, member_id, balance after) of each member wallet a
    posted transfer moved, seq order), or None when only the database can say.

    The board holds the top LEADERBOARD_DEPTH wallets (`rows`) and a bound (`floor`,
    a `_key`): every wallet not on the board ranks at or below it, every row at or above
    it. A board computed by the query (`seq`: no event above it is in it) has its last
    row as bound; an event at or below `seq` may be in it already (a transaction that
    committed late): None. A wallet on the board that rose stays; one that fell stays
    while at or above the bound, else None (a wallet off the board may now pass it). A
    wallet off the board that passes the last row takes its place (the last row leaves,
    and the bound follows it down); one that does not lowers the bound to itself. Names
    of newcomers are read by the caller (`name` None here). Ranks are recounted: ties
    share a rank, as the query's RANK()."""
    rows = {row["member_id"]: dict(row) for row in board.get("rows", ())}
    if len(rows) < LEADERBOARD_DEPTH or not moves or moves[0][0] <= board.get("seq", 0):
        return None  # a board of every wallet does not see new wallets open
    floor = tuple(board["floor"]) if board.get("floor") else None
    order = sorted(rows.values(), key=lambda r: _key(r["amount"], r["member_id"]))
    floor = floor or _key(order[-1]["amount"], order[-1]["member_id"])
    for _seq, member_id, balance in moves:
        key = _key(balance, member_id)
        if member_id in rows:
            if key > floor:
                return None
            rows[member_id]["amount"] = balance
        else:
            last = max(rows.values(), key=lambda r: _key(r["amount"], r["member_id"]))
            if key < _key(last["amount"], last["member_id"]):
                del rows[last["member_id"]]
                rows[member_id] = {"member_id": member_id, "display_name": None, "amount": balance}
                floor = min(floor, _key(last["amount"], last["member_id"]))
            else:
                floor = min(floor, key)
    order = sorted(rows.values(), key=lambda r: _key(r["amount"], r["member_id"]))
    for row in order:
        row["rank"] = 1 + sum(other["amount"] > row["amount"] for other in order)
    return {
        "seq": moves[-1][0],
        "floor": list(floor),
        "rows": [
            {k: row[k] for k in ("rank", "member_id", "display_name", "amount")} for row in order
        ],
    }


def _moves(currency: str, events: Sequence[Event]) -> list[tuple[int, int, int]]:
    moves = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.kind != TRANSFER_POSTED or data.get("currency") != currency:
            continue
        for posting in data.get("postings") or []:
            if posting.get("member_id") is not None:
                moves.append((event.seq, posting["member_id"], posting["balance"]))
    return moves


def _patch(name: str, events: Sequence[Event]) -> dict | None:
    """The board `name` patched by `events`, with newcomers' names, or None (bump only)."""
    from accounts.models import Member

    try:
        board = cache.get(f"{name}:v{_version(name)}")
    except Exception:
        return None
    if not isinstance(board, dict):
        return None
    patched = patched_board(board, _moves(name.removeprefix("lb:"), events))
    if patched is None:
        return None
    new = [row["member_id"] for row in patched["rows"] if row["display_name"] is None]
    if new:
        names = dict(Member.objects.filter(pk__in=new).values_list("pk", "display_name"))
        for row in patched["rows"]:
            if row["display_name"] is None:
                row["display_name"] = names.get(row["member_id"], "")
    return patched


@batched(invalidate_many)
def invalidate(event: Event) -> None:
    """The writer's post-commit handler: note what `event` touched, so that this process
    reads it from the database until the relay has bumped it (no round trip here)."""
    written(names_touched(event), event.seq)

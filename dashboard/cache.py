"""Cache-aside for what screens read most: leaderboards, balances, member cards.

Each cached thing has a version key; its value is stored under `<name>:v<version>`. A
committed event bumps the versions it touches, twice: in the writing process right
after commit (one pipelined INCR round trip, so its own next read sees the write), and
in the relay once per batch before the batch is broadcast (so a screen that re-reads on
the event reads fresh values, and a writer that died before its bump is covered). On
embedded defaults the relay runs in the serving process, so the second bump is what
tells its local-memory cache about writes made by other processes. A reader that
computed a value from data older than a bump stores it under the old version, which no
one reads again. If the relay's bump fails (Redis away), it tries the batch again.

Reads never depend on the cache: if it cannot be reached the value comes from the
database (and a warning is logged once a minute)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict

from django.core.cache import cache

from events.actions import batched
from events.models import Event
from events.scopes import TRANSFER_POSTED

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


def get_or_compute(name: str, compute):
    """The cached value of `name`, or `compute()` stored at the current version."""
    try:
        version = _version(name)
        key = f"{name}:v{version}"
        value = cache.get(key)
        if value is not None:
            return value
    except Exception as exc:
        _warn(exc)
        return compute()
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


def bump(*names: str) -> None:
    """Make the current values of `names` stale. Raises if the cache is unreachable."""
    keys = [f"v:{name}" for name in names]
    client = _redis_client()
    if client is not None:
        # One round trip: INCR creates a missing key at 1, and django-redis stores
        # integers as plain numbers, so `cache.get` reads them back.
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.incr(cache.make_and_validate_key(key))
        pipe.execute()
        return
    for key in keys:
        cache.add(key, 0, None)
        try:
            cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, None)


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
        return [asdict(row) for row in query(currency, limit=LEADERBOARD_DEPTH)]

    return get_or_compute(leaderboard_name(currency), compute)[:limit]


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
    """Bump what `events` touched, each name once, in one round trip (raises if the cache
    is away: the relay then tries the batch again)."""
    names: dict[str, None] = {}
    for event in events:
        names.update(dict.fromkeys(names_touched(event)))
    if names:
        bump(*names)


@batched(invalidate_many)
def invalidate(event: Event) -> None:
    """The post-commit handler: bump what `event` touched (in the writing process); the
    relay runs it as `invalidate_many`, once per batch before the broadcast."""
    invalidate_many([event])

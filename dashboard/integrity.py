"""Live-layer checks: cached values agree with the database."""

from __future__ import annotations

import random
import time

from django.db.models import Max, Min

from dashboard import cache as cached
from dashboard import ranks, rolling
from integrity.registry import Violations, check

SAMPLE = 200
# A value may trail its commit by the moment the post-commit handler takes: a mismatch
# counts only if it is still there this long after (the promise is one second).
SETTLE_SECONDS = 1.5


def _sample() -> list[tuple[int, str]]:
    """About SAMPLE wallets at random: ids drawn from the wallets' id range, read by
    primary key (sorting every wallet by random() took 2.4 s at 1,000,000 members)."""
    from ledger.models import Account

    wallets = Account.objects.filter(member__isnull=False)
    bounds = wallets.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    span = range(bounds["low"], bounds["high"] + 1)
    drawn = random.sample(span, min(len(span), 2 * SAMPLE))
    found = list(wallets.filter(pk__in=drawn).values_list("member_id", "currency__code"))
    return random.sample(found, min(len(found), SAMPLE))


def _mismatches(sample: list[tuple[int, str]]) -> set[str]:
    from ledger.models import Account, Currency
    from ledger.queries import leaderboard

    wrong: set[str] = set()
    wallets = {
        (m, c): (b, v)
        for m, c, b, v in Account.objects.filter(member_id__in={m for m, _ in sample}).values_list(
            "member_id", "currency__code", "balance", "version"
        )
    }
    for code in {c for _, c in sample}:
        members = [m for m, c in sample if c == code]
        stored = ranks.held(code, members) or {}
        wrong.update(
            f"ranks:{member_id}:{code}"
            for member_id, value in stored.items()
            if value != wallets.get((member_id, code))
            # A wallet opened with no event and never moved is not on the board (its
            # reads go to the database: dashboard.ranks.window).
            and not (value == (None, None) and wallets.get((member_id, code), (0, 0))[1] == 0)
        )
        wrong.update(_rolling_mismatches(code, members))
    for member_id, code in sample:
        balance = wallets.get((member_id, code), (None, None))[0]
        value = cached.peek(cached.balance_name(member_id, code))
        if value is not None and value != balance:
            wrong.add(f"balance:{member_id}:{code}")
        card = cached.peek(cached.card_name(member_id))
        if card and card.get("balances", {}).get(code, balance) != balance:
            wrong.add(f"card:{member_id}:{code}")
    for code in Currency.objects.values_list("code", flat=True):
        value = cached.peek(cached.leaderboard_name(code))
        if value is None:
            continue
        fresh = [
            (r.rank, r.member_id, r.display_name, r.amount)
            for r in leaderboard(code, limit=cached.LEADERBOARD_DEPTH)
        ]
        rows = value["rows"] if isinstance(value, dict) else value
        if [(r["rank"], r["member_id"], r["display_name"], r["amount"]) for r in rows] != fresh:
            wrong.add(f"leaderboard:{code}")
    return wrong


def _rolling_mismatches(code: str, members: list[int]) -> set[str]:
    """The sampled members whose total on a built rolling board (the last 24 hours', 7
    days': dashboard.rolling) is not what their wallet gained since its window's start."""
    from ledger.queries import gains_since

    wrong = set()
    for name in rolling.WINDOWS:
        held = rolling.held(code, name, members)
        if held is None:
            continue
        start, totals = held
        gains = gains_since(code, members, start)
        wrong.update(
            f"ranks:{member_id}:{code}:{name}"
            for member_id, total in totals.items()
            if total != (gains[member_id] if gains.get(member_id, 0) > 0 else None)
        )
    return wrong


@check(
    "dashboard.cache_matches_database",
    "A sample of cached balances, member cards and leaderboards, and of the ranks the relay"
    " keeps (balance and version; the last 24 hours' and 7 days' gains), equals the"
    " database.",
)
def cache_matches_database() -> Violations:
    sample = _sample()
    suspects = _mismatches(sample)
    if suspects:
        time.sleep(SETTLE_SECONDS)
        suspects &= _mismatches(sample)
    return Violations.from_ids(sorted(suspects))

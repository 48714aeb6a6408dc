"""`ledger.queries.flows_since` (the dashboard's issued and spent today) says what the
postings say, counted independently here from the Posting rows themselves."""

from __future__ import annotations

from collections import defaultdict

import pytest

from dashboard.renders import _counters
from ledger import actions as ledger
from ledger.models import Posting, Transfer
from ledger.queries import Flow, flows_since

pytestmark = pytest.mark.django_db


def by_hand(since) -> list[Flow]:
    issued, spent = defaultdict(int), defaultdict(int)
    rows = Posting.objects.filter(
        transfer__created_at__gte=since, account__member__isnull=True
    ).values_list("account__currency__code", "account__name", "amount")
    for code, name, amount in rows:
        issued[code] += -amount if name == "issuance" else 0
        spent[code] += amount if name.startswith("sink:") else 0
    return [Flow(code, issued[code], spent[code]) for code in sorted(issued | spent)]


def test_what_was_issued_and_spent_since_a_time_per_currency(alice, bob):
    ledger.award(alice, 30, reason="early", idempotency_key="early")
    since = Transfer.objects.get(idempotency_key="early").created_at
    ledger.award(alice, 50, reason="quiz", idempotency_key="f-1")
    ledger.award(bob, 7, currency="credits", reason="quiz", idempotency_key="f-2")
    ledger.spend(alice, 20, sink="shop", reason="hat", idempotency_key="f-3")
    ledger.spend(bob, 3, currency="credits", sink="shop", reason="hat", idempotency_key="f-4")
    ledger.transfer(alice, bob, 5, reason="gift", idempotency_key="f-5")  # no system side
    mistake = ledger.award(bob, 11, reason="oops", idempotency_key="f-6")
    ledger.reverse(mistake, reason="oops", idempotency_key="f-7")

    found = flows_since(since)
    assert found == by_hand(since)
    points = {f.currency: f for f in found}["points"]
    assert (points.issued, points.spent) == (30 + 50 + 11 - 11, 20)
    assert {f.currency: (f.issued, f.spent) for f in found}["credits"] == (7, 3)

    later = Transfer.objects.get(idempotency_key="f-3").created_at
    assert flows_since(later) == by_hand(later)
    assert [f.currency for f in flows_since(later)] == [f.currency for f in by_hand(later)]


def test_the_dashboard_counters_show_them(alice):
    ledger.award(alice, 40, reason="quiz", idempotency_key="c-1")
    ledger.spend(alice, 15, sink="shop", reason="hat", idempotency_key="c-2")
    flows = {row["currency"]: row for row in _counters()["flows"]}
    expected = {f.currency: f for f in by_hand(Transfer.objects.order_by("pk")[0].created_at)}
    assert flows["points"]["issued"] == expected["points"].issued
    assert flows["points"]["spent"] == expected["points"].spent == 15


def test_a_period_counts_by_the_transfers_time_even_where_ids_disagree_with_it(alice, bob):
    """The period's postings are read from the first transfer id of the period on (ids
    follow time in a live ledger); a transfer numbered later but dated earlier (a restore,
    a clock stepped back) is still left out, and one dated later but numbered earlier is
    the first of the period, so nothing of the period is missed."""
    from datetime import timedelta

    from analytics.rollup import compute
    from ledger.queries import leaderboard
    from tests.helpers import raw_write

    late = ledger.award(alice, 40, reason="late", idempotency_key="o-1")  # lowest id
    early = ledger.award(bob, 900, reason="early", idempotency_key="o-2")
    ledger.spend(alice, 10, sink="shop", reason="hat", idempotency_key="o-3")
    ledger.award(bob, 25, reason="quiz", idempotency_key="o-4")
    since = Transfer.objects.get(idempotency_key="o-3").created_at
    raw_write(
        "UPDATE ledger_transfer SET created_at = %s WHERE id = %s",
        [since + timedelta(seconds=5), late.pk],
    )
    raw_write(
        "UPDATE ledger_transfer SET created_at = %s WHERE id = %s",
        [since - timedelta(days=1), early.pk],
    )

    assert flows_since(since) == by_hand(since)
    points = {f.currency: f for f in flows_since(since)}["points"]
    assert (points.issued, points.spent) == (40 + 25, 10)
    board = leaderboard("points", since=since)
    assert [(r.member_id, r.amount) for r in board] == [(alice.pk, 40 - 10), (bob.pk, 25)]
    day = since.replace(hour=0, minute=0, second=0, microsecond=0)
    issued = {d: v for m, d, v in compute("day", day) if m == "ledger.issued"}
    assert issued["points:award"] == sum(
        p.amount
        for p in Posting.objects.filter(
            transfer__created_at__gte=day,
            transfer__created_at__lt=day + timedelta(days=1),
            transfer__kind="award",
            account__member__isnull=False,
        )
    )


def test_a_since_board_ranks_each_members_net_gain_in_the_currency(alice, bob):
    """`leaderboard(since=...)`: per member, the net of their wallet's postings in that
    currency since then, positive only, ranked by amount (ties share a rank, listed by
    id), counted here from the Posting rows."""
    from collections import Counter

    from ledger.queries import leaderboard
    from tests.factories import MemberFactory

    carol, dan = MemberFactory(), MemberFactory()
    ledger.award(alice, 1, reason="before", idempotency_key="s-0")
    since = Transfer.objects.get(idempotency_key="s-0").created_at
    ledger.award(alice, 50, reason="quiz", idempotency_key="s-1")
    ledger.award(bob, 70, reason="quiz", idempotency_key="s-2")
    ledger.transfer(bob, alice, 20, reason="gift", idempotency_key="s-3")  # bob 50, alice 71
    ledger.award(carol, 50, reason="quiz", idempotency_key="s-4")  # ties with bob
    ledger.spend(dan, 30, sink="shop", reason="hat", idempotency_key="s-5")  # net -30: out
    ledger.award(dan, 999, currency="credits", reason="quiz", idempotency_key="s-6")

    net = Counter()
    for member_id, amount in Posting.objects.filter(
        transfer__created_at__gte=since,
        account__member__isnull=False,
        account__currency__code="points",
    ).values_list("account__member_id", "amount"):
        net[member_id] += amount
    ranked = sorted((m for m in net if net[m] > 0), key=lambda m: (-net[m], m))
    expected = [(1 + sum(net[o] > net[m] for o in ranked), m, net[m]) for m in ranked]

    board = leaderboard("points", since=since)
    assert [(r.rank, r.member_id, r.amount) for r in board] == expected
    assert [r.amount for r in board] == [71, 50, 50]  # alice (50 + 1 + 20), bob and carol
    assert board[1].rank == board[2].rank == 2
    assert [r.member_id for r in leaderboard("credits", since=since)] == [dan.pk]

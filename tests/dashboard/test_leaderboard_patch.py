"""The relay patches a cached leaderboard from the balances its transfer.posted events carry
(`dashboard.cache.patched_board`) instead of making every reader recompute it; whatever
it cannot prove exact it bumps, as before. Each board is checked against the query."""

from __future__ import annotations

import random
from dataclasses import asdict

import pytest
from django.db import transaction

from dashboard import cache as cached
from events.relay import Relay
from ledger import actions as ledger
from ledger.models import Account
from ledger.queries import leaderboard
from tests.factories import MemberFactory

DEPTH = 3


def board(*rows, seq=10, floor=None) -> dict:
    """A cached board of (member_id, amount) rows, ranked as the query ranks them."""
    amounts = [amount for _, amount in rows]
    found = {
        "seq": seq,
        "rows": [
            {
                "rank": 1 + sum(a > amount for a in amounts),
                "member_id": member_id,
                "display_name": f"m{member_id}",
                "amount": amount,
            }
            for member_id, amount in rows
        ],
    }
    if floor is not None:
        found["floor"] = list(floor)
    return found


def shown(found: dict | None) -> list[tuple[int, int, int]] | None:
    return found and [(r["rank"], r["member_id"], r["amount"]) for r in found["rows"]]


@pytest.fixture
def depth(monkeypatch):
    monkeypatch.setattr(cached, "LEADERBOARD_DEPTH", DEPTH)


def test_a_wallet_off_the_board_that_passes_the_last_row_takes_its_place(depth):
    found = cached.patched_board(board((1, 50), (2, 40), (3, 30)), [(11, 9, 45)])
    assert shown(found) == [(1, 1, 50), (2, 9, 45), (3, 2, 40)]
    assert found["seq"] == 11
    assert found["rows"][1]["display_name"] is None  # read by the caller
    # Member 3 left the board: the bound follows it down, so it may fall no further
    # than that and still be known to be off the board.
    assert found["floor"] == [-30, 3]


def test_a_rise_on_the_board_is_kept_and_ties_share_a_rank(depth):
    found = cached.patched_board(board((1, 50), (2, 40), (3, 30)), [(11, 3, 50)])
    assert shown(found) == [(1, 1, 50), (1, 3, 50), (3, 2, 40)]


def test_a_fall_past_the_bound_is_left_to_the_database(depth):
    start = board((1, 50), (2, 40), (3, 30))
    assert shown(cached.patched_board(start, [(11, 1, 35)])) == [(1, 2, 40), (2, 1, 35), (3, 3, 30)]
    assert cached.patched_board(start, [(11, 1, 29)]) is None  # someone off it may have 29
    assert cached.patched_board(start, [(11, 3, 29)]) is None


def test_a_move_between_the_last_row_and_the_bound_raises_the_bound(depth):
    # After wallets left the board, the bound may sit below its last row (10 here).
    start = board((1, 50), (2, 40), (3, 30), floor=(-10, 99))
    assert shown(cached.patched_board(start, [(11, 3, 11)])) == [(1, 1, 50), (2, 2, 40), (3, 3, 11)]
    found = cached.patched_board(start, [(11, 7, 20)])  # off the board, under its last row
    assert shown(found) == shown(start)
    assert found["floor"] == [-20, 7]
    # Member 3 may now fall to 21 (still above member 7's 20), not to 19.
    assert shown(cached.patched_board(found, [(12, 3, 21)])) == [(1, 1, 50), (2, 2, 40), (3, 3, 21)]
    assert cached.patched_board(found, [(12, 3, 19)]) is None
    # A move under the bound changes nothing.
    assert cached.patched_board(start, [(11, 7, 5)])["floor"] == [-10, 99]


def test_events_the_board_may_hold_already_and_short_boards_are_left_to_the_database(depth):
    start = board((1, 50), (2, 40), (3, 30), seq=10)
    assert cached.patched_board(start, [(10, 9, 99)]) is None  # committed late: maybe in it
    assert cached.patched_board(board((1, 50), (2, 40)), [(11, 9, 99)]) is None  # all wallets
    assert cached.patched_board(start, []) is None


def fresh() -> list[dict]:
    return [asdict(r) for r in leaderboard("points", limit=DEPTH)]


def by_hand() -> list[tuple[int, int]]:
    """The top wallets from the accounts themselves (not the leaderboard query)."""
    wallets = Account.objects.filter(member__isnull=False, currency__code="points")
    rows = sorted(wallets.values_list("member_id", "balance"), key=lambda r: (-r[1], r[0]))
    return rows[:DEPTH]


@pytest.mark.django_db(transaction=True)
def test_after_each_relayed_batch_the_cached_board_is_the_querys(depth, monkeypatch):
    members = [MemberFactory() for _ in range(8)]
    relay = Relay(deliver=lambda messages: None)
    relay.start()
    relay.step()
    rng = random.Random(21)
    recomputed = []
    monkeypatch.setattr(cached, "asdict", lambda row: recomputed.append(row) or asdict(row))
    patched = 0
    for step in range(60):
        cached.leaderboard("points")  # what a screen reads (computed on a miss)
        with transaction.atomic():  # a batch of one to three transfers
            for n in range(rng.randint(1, 3)):
                member = rng.choice(members)
                key = f"patch-{step}-{n}"
                if rng.random() < 0.35:
                    balance = Account.objects.get(member=member, currency__code="points").balance
                    if balance:
                        amount = rng.randint(1, balance)
                        ledger.spend(member, amount, sink="shop", reason="x", idempotency_key=key)
                        continue
                ledger.award(member, rng.randint(1, 80), reason="x", idempotency_key=key)
        before = len(recomputed)
        relay.step()
        value = cached.peek(cached.leaderboard_name("points"))
        if value is not None:  # patched by the relay, not computed by a reader
            patched += 1
            assert len(recomputed) == before
            assert value["rows"] == fresh()
            assert [(r["member_id"], r["amount"]) for r in value["rows"]] == by_hand()
        assert cached.leaderboard("points") == fresh()
    assert patched > 20  # most batches patch; the rest bumped and were recomputed


@pytest.mark.django_db(transaction=True)
def test_an_award_shows_on_the_cached_board_once_relayed_without_a_recompute(alice, bob):
    relay = Relay(deliver=lambda messages: None)
    relay.start()
    relay.step()
    others = [MemberFactory() for _ in range(cached.LEADERBOARD_DEPTH)]
    for n, member in enumerate(others):
        ledger.award(member, 10 + n, reason="seed", idempotency_key=f"seed-{n}")
    while relay.step():
        pass
    assert alice.pk not in [r["member_id"] for r in cached.leaderboard("points", 50)]
    ledger.award(alice, 10_000, reason="quiz", idempotency_key="big")
    relay.step()
    value = cached.peek(cached.leaderboard_name("points"))
    assert value is not None  # the relay stored the patched board at the new version
    top = value["rows"][0]
    balance = Account.objects.get(member=alice, currency__code="points").balance
    assert (top["member_id"], top["display_name"], top["amount"]) == (
        alice.pk,
        alice.display_name,
        balance,
    )
    assert cached.leaderboard("points", 50) == fresh_all()


def fresh_all() -> list[dict]:
    return [asdict(r) for r in leaderboard("points", limit=cached.LEADERBOARD_DEPTH)]


def test_a_board_cached_in_the_older_shape_is_computed_again(alice):
    """Before the relay patched boards, a board was cached as a plain list: a value left
    by the previous deploy is a miss, not a TypeError on the home page."""
    from django.core.cache import cache as django_cache

    name = cached.leaderboard_name("points")
    django_cache.set(f"{name}:v{cached._version(name)}", [{"member_id": 0}], 60)
    rows = cached.leaderboard("points")
    assert isinstance(rows, list)
    assert all("member_id" in row for row in rows)
    assert {"member_id": 0} not in rows

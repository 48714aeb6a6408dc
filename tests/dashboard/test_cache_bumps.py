"""Cache versions are bumped by the relay once per batch (what tells every process); the
writer only notes what it wrote, so that its own next read sees its write without a
round trip at commit."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from dashboard import cache as cached
from events.models import Event
from events.relay import Relay
from ledger import actions as ledger

pytestmark = pytest.mark.django_db(transaction=True)


def version(name: str) -> int:
    return cache.get(f"v:{name}") or 0


def relay_past_the_fixtures() -> Relay:
    """A started relay that has passed the fixtures' own events. On a fresh database its
    position row is the migration's (seq 0), so it starts before them; they are passed
    here, as they would be before the test."""
    relay = Relay(deliver=lambda messages: None)
    relay.start()
    relay.step()
    return relay


def test_a_read_right_after_a_write_in_the_same_process_sees_it(alice):
    balance = 100
    for i in range(5):
        assert cached.balance(alice.pk, "points") == balance  # cached now
        assert cached.member_card(alice.pk)["balances"]["points"] == balance
        ledger.award(alice, 7, reason="quiz", idempotency_key=f"ryw-{i}")
        balance += 7
        # No relay runs here: the writer's own reads come from the database.
        assert cached.balance(alice.pk, "points") == balance
        assert cached.member_card(alice.pk)["balances"]["points"] == balance
        leaders = cached.leaderboard("points")
        assert {r["member_id"]: r["amount"] for r in leaders}[alice.pk] == balance


def test_one_batch_bumps_each_touched_name_once(alice, bob):
    names = [
        cached.leaderboard_name("points"),
        cached.balance_name(alice.pk, "points"),
        cached.card_name(alice.pk),
        cached.balance_name(bob.pk, "points"),
    ]
    before = {name: version(name) for name in names}
    with transaction.atomic():
        first = ledger.award(alice, 1, reason="a", idempotency_key="batch-1")
        second = ledger.award(alice, 2, reason="b", idempotency_key="batch-2")
        third = ledger.award(bob, 3, reason="c", idempotency_key="batch-3")
    batch = list(
        Event.objects.filter(
            subject__in=[f"transfer:{t.pk}" for t in (first, second, third)]
        ).order_by("seq")
    )
    assert len(batch) == 3
    bumped = {name: version(name) for name in names}
    cached.invalidate_many(batch)
    after = {name: version(name) for name in names}
    assert {name: after[name] - bumped[name] for name in names} == dict.fromkeys(names, 1)
    assert bumped == before  # the writer made no round trip: the relay bumps


def test_a_writer_reads_the_cache_again_once_the_relay_has_bumped_its_write(alice):
    relay = relay_past_the_fixtures()
    name = cached.balance_name(alice.pk, "points")
    assert cached.balance(alice.pk, "points") == 100
    ledger.award(alice, 5, reason="quiz", idempotency_key="ryw-relayed")
    assert cached.balance(alice.pk, "points") == 105  # from the database
    assert cache.get(f"{name}:v{version(name)}") == 100  # the old version, untouched

    assert relay.step() == 1
    assert cached.balance(alice.pk, "points") == 105
    assert cache.get(f"{name}:v{version(name)}") == 105  # cached again, at the new version


def test_what_a_writer_that_died_after_commit_never_bumped_the_relay_bumps(alice):
    relay = relay_past_the_fixtures()
    assert cached.balance(alice.pk, "points") == 100  # cached now

    with transaction.atomic():
        ledger.award(alice, 5, reason="lost", idempotency_key="died-1")
        # Drop the post-commit callbacks, as a process killed right after COMMIT would.
        transaction.get_connection().run_on_commit = []
    assert cached.balance(alice.pk, "points") == 100  # stale: nobody bumped it

    assert relay.step() == 1
    assert cached.balance(alice.pk, "points") == 105

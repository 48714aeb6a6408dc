"""Cache versions are bumped by the publisher thread, once per batch; a read in the
writing process still sees its own writes."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import cache
from django.db import transaction

from dashboard import cache as cached
from events import live
from events.actions import batched, register_handler, unregister_handler
from events.models import Event
from ledger import actions as ledger

pytestmark = pytest.mark.django_db(transaction=True)


def version(name: str) -> int:
    return cache.get(f"v:{name}") or 0


def test_a_read_right_after_a_write_in_the_same_process_sees_it(alice):
    balance = 100
    for i in range(5):
        assert cached.balance(alice.pk, "points") == balance  # cached now
        assert cached.member_card(alice.pk)["balances"]["points"] == balance
        ledger.award(alice, 7, reason="quiz", idempotency_key=f"ryw-{i}")
        balance += 7
        # No flush: the read waits for this process's queued bump by itself.
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
    assert live.publisher.flush()
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
    assert all(bumped[name] > before[name] for name in names)  # the publisher bumped them


def test_a_read_does_not_wait_long_for_a_late_bump_it_reads_the_database(alice, monkeypatch):
    monkeypatch.setattr(cached, "BUMP_WAIT", 0.2)
    assert cached.balance(alice.pk, "points") == 100
    release = threading.Event()

    @batched(lambda batch: release.wait(5))
    def stuck(event):
        pass

    register_handler(stuck)
    try:
        ledger.award(alice, 5, reason="late", idempotency_key="late-1")
        assert cached.balance(alice.pk, "points") == 105  # from the database
    finally:
        release.set()
        unregister_handler(stuck)
        live.publisher.flush()
    assert cached.balance(alice.pk, "points") == 105  # the bump ran: the cache agrees

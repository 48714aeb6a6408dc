"""Every member's all-time rank, kept by the relay in Redis (dashboard.ranks): once built
it answers what the leaderboard query answers, for the top and around every member;
replayed, reordered or lost moves cannot make it wrong, only absent (then the database
answers)."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import asdict

import pytest
from django.core.cache import cache

from dashboard import ranks
from events.models import Event
from ledger import actions as ledger
from ledger import queries
from ledger.models import Account
from tests.dashboard.test_cache_bumps import relay_past_the_fixtures
from tests.factories import MemberFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def from_query(limit: int, around=None) -> list[dict]:
    rows = queries.leaderboard("points", limit=limit, around=around)
    return [asdict(row) | {"display_name": None} for row in rows]


def assert_same_as_the_query(members) -> None:
    for limit in (1, 2, 3, 5, len(members) + 2):
        assert ranks.window("points", limit) == from_query(limit), limit
        for member in members:
            assert ranks.window("points", limit, member.pk) == from_query(limit, member)


@pytest.fixture
def members():
    people = [MemberFactory() for _ in range(9)]
    for n, amount in enumerate([40, 90, 40, 5, 70, 90, 0, 40, 0]):  # ties, and empty wallets
        if amount:
            ledger.award(people[n], amount, reason="x", idempotency_key=f"rk-{n}")
    return people


def test_a_built_store_ranks_every_member_as_the_query_does(members):
    assert ranks.window("points", 3) is None  # not built: the caller asks the database
    assert ranks.build("points") == len(members)
    assert_same_as_the_query(members)


def test_the_relay_moves_the_store_as_awards_spends_and_registrations_commit(members):
    relay = relay_past_the_fixtures()
    ranks.build("points")
    rng = random.Random(7)
    for step in range(40):
        member = rng.choice(members)
        if rng.random() < 0.3 and queries.balance(member, "points")[0] > 0:
            ledger.spend(member, 1, reason="x", sink="shop", idempotency_key=f"rs-{step}")
        else:
            ledger.award(member, rng.choice([1, 5, 40]), reason="x", idempotency_key=f"ra-{step}")
        if step % 10 == 9:
            members.append(MemberFactory())  # a new empty wallet joins the bottom
        if step % 4 == 3:
            while relay.step():
                pass
            assert_same_as_the_query(members)


def held_version(member) -> int:
    return Account.objects.get(member=member, currency__code="points").version


def _moves(events):
    return [(m, b, v) for m, _amount, b, v, _at in ranks.moves_of(events)["points"]]


def test_a_batch_applied_again_or_late_changes_nothing_newer(members):
    relay = relay_past_the_fixtures()
    ranks.build("points")
    alice = members[3]
    ledger.award(alice, 100, reason="x", idempotency_key="late-1")
    first = list(Event.objects.filter(kind="ledger.transfer_posted").order_by("-seq")[:1])
    ledger.award(alice, 100, reason="x", idempotency_key="late-2")
    while relay.step():
        pass
    before = ranks.window("points", 20)
    ranks.apply_many(first)  # the older move, again and after the newer one
    ranks.apply_many(first)
    assert ranks.window("points", 20) == before == from_query(20)
    member_id, balance, version = _moves(first)[0]
    assert (member_id, version) == (alice.pk, held_version(alice) - 1)
    assert balance < queries.balance(alice)[0]


@pytest.mark.parametrize("lost", [0, 1], ids=["scores", "versions"])
def test_a_lost_key_makes_the_store_absent_and_queues_one_build(members, lost):
    ranks.build("points")
    cache.client.get_client(write=True).delete(ranks._keys("points")[lost])  # evicted
    assert ranks.window("points", 3) is None
    lock = cache.make_key("ranks:points:building")
    assert cache.client.get_client(write=True).exists(lock)  # one build queued
    assert ranks.build("points") == len(members)  # what the worker runs
    assert not cache.client.get_client(write=True).exists(lock)
    assert ranks.window("points", 3) == from_query(3)


def test_a_balance_past_what_a_score_holds_exactly_unmarks_the_store(members):
    ranks.build("points")
    client = cache.client.get_client(write=True)
    ranks._write(client, ranks._keys("points"), None, [(members[0].pk, 2**53 + 2, 99)])
    assert ranks.window("points", 3) is None
    lock = cache.make_key("ranks:points:building")
    assert not client.exists(lock)  # no build queued: it would end the same


def test_a_member_without_a_wallet_in_the_store_is_left_to_the_database(members):
    ranks.build("points")
    stranger = MemberFactory()  # registered after the build, no relay ran
    assert ranks.window("points", 3, stranger.pk) is None
    assert ranks.window("points", 3, members[0].pk) == from_query(3, members[0])


def test_the_integrity_check_finds_a_wallet_the_store_holds_wrongly(members, monkeypatch):
    from dashboard import integrity
    from integrity.registry import get_check

    monkeypatch.setattr(integrity, "SETTLE_SECONDS", 0.01)
    check = get_check("dashboard.cache_matches_database").func
    ranks.build("points")
    assert check().count == 0
    alice = members[0]
    client = cache.client.get_client(write=True)
    ranks._write(client, ranks._keys("points"), None, [(alice.pk, 1, held_version(alice) + 1)])
    found = check()
    assert found.sample == [f"ranks:{alice.pk}:points"]


def test_a_read_that_finds_no_store_has_a_celery_worker_build_it(members, tmp_path, monkeypatch):
    read = lambda: ranks.window("points", 3)  # noqa: E731
    assert built_by_a_worker(read, tmp_path, monkeypatch) == from_query(3)


def built_by_a_worker(read, tmp_path, monkeypatch):
    """`read()`'s answer once a real Celery worker built the board its first call (None:
    not built) queued."""
    from celery import current_app
    from django.conf import settings

    from tests.servers import celery_worker, database_url_for_tests

    if not database_url_for_tests(tmp_path).startswith("postgres"):
        pytest.skip("the worker needs a database shared with the test (PostgreSQL)")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(current_app.conf, "task_default_queue", queue)
    env = {"DATABASE_URL": database_url_for_tests(tmp_path), "REDIS_URL": settings.REDIS_URL}
    with celery_worker(env, queue) as worker:
        assert read() is None  # queues the build
        deadline = time.monotonic() + 60
        while (found := read()) is None:
            assert time.monotonic() < deadline, "no build"
            assert worker.poll() is None, worker.stdout.read().decode()[-3000:]
            time.sleep(0.2)
    return found


def test_forgetting_the_boards_leaves_reads_to_the_database_until_rebuilt(members):
    ranks.build("points")
    assert ranks.window("points", 3) is not None
    assert ranks.forget() == 2  # the set and the versions
    assert ranks.window("points", 3) is None


def test_a_build_forgotten_or_overtaken_midway_leaves_its_board_unmarked(members, monkeypatch):
    monkeypatch.setattr(ranks, "CHUNK", 2)
    write = ranks._write
    calls = []

    def forgetting(*args):
        write(*args)
        calls.append(1)
        if len(calls) == 1:
            ranks.forget()  # an operator drops the boards while the build runs

    monkeypatch.setattr(ranks, "_write", forgetting)
    ranks.build("points")
    assert len(calls) > 1
    assert ranks.window("points", 3) is None  # not served half-built
    monkeypatch.setattr(ranks, "_write", write)
    ranks.build("points")
    assert ranks.window("points", 3) == from_query(3)


def test_a_currency_not_opened_on_registration_gets_no_new_members(members):
    from ledger.models import Currency

    Currency.objects.create(code="gems", name="Gems", opens_on_signup=False)
    ledger.award(members[0], 9, currency="gems", reason="x", idempotency_key="gem-1")
    relay = relay_past_the_fixtures()
    ranks.build("gems")
    newcomer = MemberFactory()
    while relay.step():
        pass
    rows = queries.leaderboard("gems", limit=10)
    assert [r["member_id"] for r in ranks.window("gems", 10)] == [r.member_id for r in rows]
    assert newcomer.pk not in [r.member_id for r in rows]


def test_an_unknown_currency_gets_no_board(members):
    assert ranks.build("nope") == 0
    assert ranks.window("nope", 3) is None

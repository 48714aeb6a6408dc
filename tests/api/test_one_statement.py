"""An award over the API in one statement (PostgreSQL): the Idempotency-Key's claim, the
transfer and its stored answer commit together, in one round trip (`ledger.posting.Rider`,
`api.idempotency.OneStatement`). These run outside any transaction, as a server does:
inside one (the other API tests) the general path answers.

The answer is built in SQL there; `test_the_answer_built_in_sql_is_the_answer_read_back`
holds it to `transfer_data` of the transfer read back (the contract), and the others hold
what the general path held: replays, a reused key, refusals, the order of locks."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import idempotency
from api.models import IdempotentRequest
from api.routes.ledger import transfer_data
from ledger import actions
from ledger.models import Account, Transfer
from ledger.plans import SystemKey
from tests.api.conftest import Bot
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("one statement with writing CTEs: PostgreSQL only")


def _award(bot: Bot, member, amount=5, key="k1", **extra):
    return bot.post(
        "/ledger/awards",
        {"member_id": member.pk, "amount": amount, "reason": "quiz", **extra},
        key=key,
    )


def _balance(member) -> int:
    return Account.objects.get(member=member, currency__code="points").balance


def test_an_award_to_an_open_wallet_stores_its_answer_with_the_transfer_not_by_a_claim(bot):
    member = MemberFactory(platform="web", external_id="one-1")
    with CaptureQueriesContext(connection) as queries:
        response = _award(bot, member, 25)
    assert response.status_code == 201, response.content
    # No claim and no fill (Django's cursor runs those; the posting statement runs on a
    # psycopg cursor of its own, unseen here): the posting statement wrote the answer.
    assert not [q for q in queries if "api_idempotentrequest" in q["sql"]]
    stored = IdempotentRequest.objects.get(api_key=bot.key, key="k1")
    assert (stored.status, stored.response_body) == (201, response.json())
    assert stored.method == "POST"
    assert stored.path == "/api/v1/ledger/awards"
    assert _balance(member) == 125


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"reason": 'l\'apostrophe "quoted" — ünï ✓', "context": {"round": 3, "tags": ["a"]}},
        {"kind": "bonus", "currency": "points"},
    ],
)
def test_the_answer_built_in_sql_is_the_answer_read_back(bot, extra):
    member = MemberFactory(platform="web", external_id="one-2")
    response = _award(bot, member, 7, **extra)
    assert response.status_code == 201, response.content
    transfer = Transfer.objects.get(pk=response.json()["id"])
    assert response.json() == transfer_data(transfer)  # its postings, read back
    assert IdempotentRequest.objects.get(key="k1").response_body == response.json()


def test_a_retry_gets_the_stored_answer_and_pays_nothing_more(bot):
    member = MemberFactory(platform="web", external_id="one-3")
    first = _award(bot, member, 10)
    again = _award(bot, member, 10)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Transfer.objects.filter(kind="award").count() == 1
    assert _balance(member) == 110


def test_the_key_reused_for_another_body_names_the_field_and_pays_nothing(bot):
    member = MemberFactory(platform="web", external_id="one-4")
    _award(bot, member, 10)
    reused = _award(bot, member, 11)
    assert reused.status_code == 422
    assert reused.json()["fields"] == ["amount"]
    assert _balance(member) == 110


def test_a_key_whose_answer_was_a_refusal_pays_nothing_for_another_member(bot):
    """The key's stored answer is a 404; the same key for a member that exists would
    write a transfer in the one statement, until its answer meets the stored one: the
    whole statement fails, the transfer with it, and the reuse is refused."""
    missing = _award(bot, type("Gone", (), {"pk": 987654})(), 10)
    assert missing.status_code == 404
    member = MemberFactory(platform="web", external_id="one-5")
    reused = _award(bot, member, 10)
    assert reused.status_code == 422, reused.content
    assert reused.json()["fields"] == ["member_id"]
    assert not Transfer.objects.filter(kind="award").exists()
    assert _balance(member) == 100


def test_a_wallet_to_open_takes_the_general_path_then_one_statement(bot):
    from ledger.models import Currency

    Currency.objects.get_or_create(code="gems", defaults={"name": "Gems"})
    member = MemberFactory(platform="web", external_id="one-6")
    opened = _award(bot, member, 3, key="g1", currency="gems")
    assert opened.status_code == 201, opened.content
    with CaptureQueriesContext(connection) as queries:
        second = _award(bot, member, 4, key="g2", currency="gems")
    assert second.status_code == 201
    assert not [q for q in queries if "api_idempotentrequest" in q["sql"]]
    assert Account.objects.get(member=member, currency__code="gems").balance == 7
    for key, response in (("g1", opened), ("g2", second)):
        assert IdempotentRequest.objects.get(key=key).response_body == response.json()


def test_sixteen_threads_with_one_key_pay_once_and_answer_the_same(bot):
    member = MemberFactory(platform="web", external_id="one-7")
    barrier = threading.Barrier(16)
    answers: list = [None] * 16

    def call(i: int) -> None:
        barrier.wait()
        try:
            response = _award(Bot(_Issued(bot)), member, 50, key="once")
            answers[i] = (response.status_code, json.dumps(response.json(), sort_keys=True))
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {status for status, _ in answers} == {201}, answers
    assert len({body for _, body in answers}) == 1
    assert Transfer.objects.filter(kind="award").count() == 1
    assert _balance(member) == 150


def _award_behind(hold, bot: Bot, member, key: str) -> tuple[threading.Thread, ...]:
    """`hold(claimed)` in a thread of its own, which sets `claimed` once it holds the
    key's claim; then an award with `key` in another thread, given half a second to queue
    behind that claim (an award of 10): (the holder, the award's thread, [answer])."""

    def run() -> None:
        try:
            hold(claimed)
        finally:
            connection.close()

    def award() -> None:
        try:
            answer.append(_award(Bot(_Issued(bot)), member, 10, key=key))
        finally:
            connection.close()

    claimed, answer = threading.Event(), []
    holder, awarding = threading.Thread(target=run), threading.Thread(target=award)
    holder.start()
    assert claimed.wait(10)
    awarding.start()
    time.sleep(0.5)
    return holder, awarding, answer


class _Issued:
    """Another client for the same key (a Django test Client is not shared by threads)."""

    def __init__(self, bot: Bot):
        self.key, self.token = bot.key, bot.token


def test_the_statement_takes_the_keys_lock_before_paying(bot):
    """A request on the general path holds the key's claim, uncommitted; an award with the
    same key waits for the key's lock before it writes anything (were it to write its
    transfer first, each would wait for the other: a deadlock), then meets the stored
    answer and pays nothing."""
    member = MemberFactory(platform="web", external_id="one-8")
    release = threading.Event()

    def hold_the_claim(claimed: threading.Event) -> None:
        request = RequestFactory().post("/api/v1/ledger/awards")
        request.auth = bot.key
        with transaction.atomic():
            record = idempotency._claim(request, "held", "other-request", {"x": 1})
            claimed.set()
            release.wait(30)
            idempotency._fill(record, 409, {"code": "other"})

    holder, awarding, answer = _award_behind(hold_the_claim, bot, member, "held")
    with connections["default"].cursor() as cursor:
        # The waiting statement has written nothing yet: no transaction id of its own.
        cursor.execute(
            "SELECT backend_xid::text FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        waiting = cursor.fetchall()
    assert awarding.is_alive()
    assert waiting == [(None,)]
    release.set()
    holder.join(30)
    awarding.join(30)
    assert answer[0].status_code == 422, answer[0].content  # another request's key
    assert not Transfer.objects.filter(kind="award").exists()
    assert _balance(member) == 100


def test_an_award_reaching_a_balance_achievement_grants_it_and_pays_its_reward(bot):
    """The grant pays its reward through the ledger again, after the award committed: that
    posting is the ledger's own, not a second answer for the request's key."""
    from ledger.models import Achievement, Currency, MemberAchievement

    member = MemberFactory(platform="web", external_id="one-9")
    Achievement.objects.create(
        code="rich",
        name="Rich",
        rule="balance",
        threshold=150,
        reward_amount=5,
        reward_currency=Currency.objects.get(code="points"),
    )
    response = _award(bot, member, 60)
    assert response.status_code == 201, response.content
    assert MemberAchievement.objects.filter(member=member, achievement__code="rich").exists()
    assert _balance(member) == 165
    assert IdempotentRequest.objects.count() == 1


def test_a_claim_without_the_keys_lock_cannot_fail_the_award(bot):
    """A worker of the previous release (mid-deploy) claims the key without its lock, then
    writes the ledger's key; the award, in one statement, holds that ledger key and waits
    for the claim: a deadlock. PostgreSQL ends the award's statement (it waited first, so
    its check finds the cycle); nothing of it stays, and the award answers through the
    general path (it used to answer 500)."""
    from api.sql import statement

    member = MemberFactory(platform="web", external_id="one-10")
    old_claim = statement("idempotency_claim")  # as the previous release ran it
    award_waits = threading.Event()

    def old_worker(claimed: threading.Event) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                old_claim,
                {
                    "api_key": bot.key.pk,
                    "key": "deploy",
                    "method": "POST",
                    "path": "/api/v1/ledger/awards",
                    "hash": "another-request",
                    "body": "{}",
                    "status": 102,
                    "answer": "{}",
                    "now": timezone.now(),
                },
            )
            record = cursor.fetchone()[0]
            claimed.set()
            award_waits.wait(30)
            actions.award(
                member,
                1,
                reason="old worker",
                idempotency_key=SystemKey(f"api:{bot.key.actor_id}:deploy"),
                actor=bot.key.actor,
            )
            idempotency._fill(record, 201, {"by": "old worker"})

    # the award holds the ledger key and waits for the claim's row
    holder, awarding, answer = _award_behind(old_worker, bot, member, "deploy")
    award_waits.set()
    holder.join(30)
    awarding.join(30)
    assert answer[0].status_code == 422, answer[0].content  # the key answered another request
    paid = Transfer.objects.filter(idempotency_key__startswith="api:")
    assert list(paid.values_list("reason", flat=True)) == ["old worker"]
    assert _balance(member) == 101

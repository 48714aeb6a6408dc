"""Races over real HTTP: daphne serving Concord in its own process, many clients at once.

On PostgreSQL concurrent transactions really interleave; on SQLite writers take turns
(the same tests hold there too)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from accounts.models import Identity, Member
from api.actions import create_key
from api.models import IdempotentRequest
from ledger.models import Account, Transfer
from tests.api.conftest import this_database
from tests.factories import MemberFactory
from tests.servers import daphne

pytestmark = pytest.mark.django_db(transaction=True)


def _post(url: str, token: str, body: dict, key: str | None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _at_once(count: int, call) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_sixteen_concurrent_awards_with_one_key_pay_once_and_answer_the_same(tmp_path):
    member = MemberFactory(platform="web", external_id="race-1")
    token = create_key(label="race", scopes=["ledger:write"]).token
    env = {"DATABASE_URL": this_database(tmp_path)}
    with daphne(env) as base:
        body = {"member_id": member.pk, "amount": 50, "reason": "race"}
        results = _at_once(
            16, lambda: _post(f"{base}/api/v1/ledger/awards", token, body, "pay-once")
        )
    assert {status for status, _ in results} == {201}, results
    assert len({json.dumps(data, sort_keys=True) for _, data in results}) == 1
    assert Transfer.objects.filter(kind="award").count() == 1
    assert IdempotentRequest.objects.count() == 1
    member.refresh_from_db()
    assert Account.objects.get(member=member, currency__code="points").balance == 150


def test_twenty_four_concurrent_registrations_of_one_identity_give_one_member(tmp_path):
    token = create_key(label="race", scopes=["members:write"]).token
    env = {"DATABASE_URL": this_database(tmp_path)}
    body = {"platform": "web", "external_id": "race-2", "username": "racer"}
    with daphne(env) as base:
        results = _at_once(24, lambda: _post(f"{base}/api/v1/members", token, body, None))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 23 + [201], results
    assert len({data["id"] for _, data in results}) == 1
    assert Member.objects.count() == 1
    assert Identity.objects.count() == 1

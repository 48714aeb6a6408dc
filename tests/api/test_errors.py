"""Every refusal is a problem body with a stable code; odd input of any shape is a 4xx."""

from __future__ import annotations

import inspect
import json

import pytest

from accounts import exceptions as accounts
from api import exceptions as api
from api.problems import DOMAIN, of_domain
from ledger import exceptions as ledger
from narrative import exceptions as narrative
from payments import exceptions as payments
from tournaments import exceptions as tournaments

pytestmark = pytest.mark.django_db


def test_every_domain_exception_has_its_own_code():
    for module in (accounts, ledger, narrative, payments, tournaments, api):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Exception) and cls.__module__ == module.__name__:
                assert cls in DOMAIN, f"{cls.__qualname__} has no problem code (api.problems)"


def test_named_codes_are_the_stable_ones_the_issue_lists():
    assert of_domain(ledger.InsufficientFunds("x")).code == "insufficient_funds"
    assert of_domain(accounts.EmailAlreadyRegistered("a@b.c", "a@b.c")).code == (
        "email_already_registered"
    )
    assert of_domain(narrative.ChapterLocked("x", rule="vip")).code == "chapter_locked"
    assert of_domain(tournaments.TournamentFull("x")).code == "tournament_full"
    conflict = of_domain(ledger.IdempotencyConflict("k", ["amount"]))
    assert conflict.status == 409
    assert conflict.extra["fields"] == ["amount"]


def _raw(bot, path: str, body: bytes, *, content_type="application/json", key="k1"):
    headers = {"Authorization": f"Bearer {bot.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return bot.client.post(f"/api/v1{path}", body, content_type=content_type, headers=headers)


ODD_BODIES = [
    b"{bad",
    b"[1, 2]",
    b'"text"',
    b"null",
    b"\xff\xfe\x00",
    b'{"member_id": 1, "amount": ' + b"9" * 5000 + b', "reason": "x"}',
    b'{"member_id": 1, "amount": 1e400, "reason": "x"}',
    b'{"member_id": 1, "amount": NaN, "reason": "x"}',
    b'{"member_id": 1, "amount": 99999999999999999999999999, "reason": "x"}',
    b'{"member_id": 99999999999999999999999999, "amount": 1, "reason": "x"}',
    b'{"member_id": 1, "amount": true, "reason": "x"}',
    b'{"member_id": 1, "amount": 5.0, "reason": "x"}',
    b'{"member_id": 1, "amount": "5", "reason": "x"}',
    b'{"member_id": 1, "amount": -5, "reason": "x"}',
    b'{"member_id": 1, "amount": 5, "reason": "\\u0000"}',
    b'{"member_id": 1, "amount": 5, "reason": "\\ud800"}',
    b'{"member_id": 1, "amount": 5, "reason": "x", "context": {"a": "\\u0000"}}',
    b'{"member_id": 1, "amount": 5, "reason": "x", "context": {"\\udfff": 1}}',
    b'{"member_id": 1, "amount": 5, "reason": "x", "context": [1]}',
    b'{"member_id": 1, "amount": 5, "reason": "x", "currency": "\\u202e"}',
    b'{"member_id": 1, "amount": 5, "reason": "' + b"r" * 300 + b'"}',
    b'{"member_id": 1, "amount": 5, "reason": "x", "kind": "spend"}',
    b'{"member_id": 1, "amount": 5, "reason": "x", "currency": "nope"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": "' + b"x" * 70_000 + b'"}',
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=range(len(ODD_BODIES)))
def test_odd_award_bodies_answer_4xx_problems_and_write_nothing(bot, alice, body):
    from ledger.models import Transfer

    before = Transfer.objects.count()
    response = _raw(
        bot, "/ledger/awards", body.replace(b'"member_id": 1', b'"member_id": %d' % alice.pk)
    )
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem["code"]
    assert Transfer.objects.count() == before


def test_a_body_past_djangos_own_limit_is_413_too(bot, alice):
    response = _raw(bot, "/ledger/awards", b'{"a": "' + b"x" * 3_000_000 + b'"}')
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def test_validation_errors_name_each_field(bot, alice):
    response = _raw(bot, "/ledger/awards", b'{"member_id": "x", "amount": 0}')
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert {error["field"] for error in problem["errors"]} == {"member_id", "amount", "reason"}


def test_odd_members_input_is_a_4xx(bot):
    for body in [
        {"platform": "myspace", "external_id": "1"},
        {"platform": "telegram", "external_id": "   "},
        {"platform": "telegram", "external_id": "x" * 65},
        {"platform": "telegram", "external_id": "1", "username": "a\u202eb"},
        {"platform": "telegram", "external_id": "1", "email": "not an email"},
        {"platform": "telegram", "external_id": "1", "referral_code": "\u0000"},
        {"platform": "telegram", "external_id": "1", "referral_code": "ZZZZZZZZ"},
        {"platform": ["telegram"], "external_id": 1},
    ]:
        response = _raw(bot, "/members", json.dumps(body).encode(), key=None)
        assert 400 <= response.status_code < 500, (body, response.content)
        assert response["Content-Type"] == "application/problem+json"


def test_odd_paths_and_queries_are_4xx(bot, alice):
    for path in [
        "/members/0",
        "/members/99999999999999999999999",
        "/members/-1",
        "/members/abc",
        "/members/by-identity/telegram/%00",
        "/members/by-identity/x/1",
        f"/ledger/members/{alice.pk}/statement?limit=0",
        f"/ledger/members/{alice.pk}/statement?limit=100000",
        f"/ledger/members/{alice.pk}/statement?cursor=abc",
        f"/ledger/members/{alice.pk}/statement?cursor=%00",
        f"/ledger/members/{alice.pk}/balance?currency=%E2%80%AE",
        f"/ledger/members/{alice.pk}/balance?currency=nope",
    ]:
        response = bot.client.get(
            f"/api/v1{path}", headers={"Authorization": f"Bearer {bot.token}"}
        )
        assert 400 <= response.status_code < 500, (path, response.content)
        assert response["Content-Type"] == "application/problem+json", path


def test_unsupported_media_type_and_unknown_route(bot):
    response = _raw(bot, "/members", b"platform=telegram", content_type="text/plain", key=None)
    assert response.status_code == 415
    response = bot.client.get("/api/v1/nothing-here")
    assert response.status_code == 404

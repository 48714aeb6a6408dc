"""The payload contract: every event an action writes matches its kind's schema
(`events.payloads`), on the backend under test.

The hot actions write their events from one raw statement on PostgreSQL and from Python
on SQLite; this file runs every action that publishes on the current backend (CI runs it
on both) and checks each event row it wrote, read back from the log as every reader reads
it. A key on one backend only, or a number that became a string, fails here. It also
holds the list of kinds: every kind written has a schema, every schema is written by some
action here. That every `publish(` in the apps' code builds its data with a payload
builder and names a kind with a schema: test_payload_publish_sites.py.
"""

from __future__ import annotations

import pytest
from django.db import connection

from events import payloads
from events.exceptions import InvalidPayload, UnknownEventKind
from events.models import Event
from ledger.actions import (
    award,
)
from ledger.models import Achievement, AchievementRule, Currency
from tests.events.payload_scenarios import (
    SCENARIOS,
    same_as_logged,
    transfer_posted_from_rows,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def last_seq() -> int:
    last = Event.objects.order_by("-seq").first()
    return last.seq if last else 0


def written_after(seq: int) -> list[Event]:
    return list(Event.objects.filter(seq__gt=seq).order_by("seq"))


def violations(events: list[Event]) -> list[str]:
    found = []
    for event in events:
        try:
            payloads.check(event.kind, event.data)
        except (InvalidPayload, UnknownEventKind) as error:
            found.append(f"#{event.seq} {error}")
    return found


def transfers_match_their_rows(events: list[Event]) -> None:
    for event in events:
        if event.kind == "ledger.transfer_posted":
            assert event.data == transfer_posted_from_rows(event.data["transfer_id"])


# --- every action, by app -------------------------------------------------------------


@pytest.mark.parametrize("app", sorted(SCENARIOS))
def test_every_event_an_action_writes_matches_its_kinds_schema(app, staff):
    after = last_seq()
    SCENARIOS[app](staff)
    written = written_after(after)
    assert written
    assert violations(written) == []
    transfers_match_their_rows(written)


def test_every_kind_with_a_schema_is_written_and_every_kind_written_has_one(staff):
    after = last_seq()
    for scenario in SCENARIOS.values():
        scenario(staff)
    written = written_after(after)
    assert violations(written) == []
    assert sorted({event.kind for event in written}) == payloads.kinds()


@pytest.mark.django_db(transaction=True)
def test_an_award_outside_a_transaction_writes_the_same_payloads(staff):
    """PostgreSQL posts an award outside a transaction as one statement in autocommit,
    then grants the balance achievements it reached: the same schemas hold."""
    member = MemberFactory()
    Achievement.objects.create(
        code="big",
        name="Big",
        rule=AchievementRule.BALANCE,
        threshold=150,
        reward_amount=5,
        reward_currency=Currency.objects.get(code="points"),
    )
    after = last_seq()
    assert not connection.in_atomic_block
    paid = award(member, 70, reason="quiz", idempotency_key="k-out", actor=staff)
    same_as_logged(paid.event)
    written = written_after(after)
    assert [event.kind for event in written] == [
        "ledger.transfer_posted",
        "ledger.transfer_posted",
        "ledger.achievement_granted",
    ]
    assert violations(written) == []
    transfers_match_their_rows(written)


# --- the checker itself -----------------------------------------------------------------


def test_the_checker_refuses_a_missing_key_an_extra_key_and_a_wrong_type():
    good = {
        "member_id": 1,
        "display_name": "a",
        "platform": "telegram",
        "external_id": "1",
        "username": "",
        "referred_by": None,
    }
    payloads.check("member.registered", good)
    with pytest.raises(InvalidPayload) as missing:
        payloads.check("member.registered", {k: v for k, v in good.items() if k != "username"})
    assert missing.value.problems == ["data: missing key 'username'"]
    with pytest.raises(InvalidPayload) as extra:
        payloads.check("member.registered", {**good, "email": "a@example.org"})
    assert extra.value.problems == ["data: unexpected key 'email'"]
    with pytest.raises(InvalidPayload) as wrong:
        payloads.check("member.registered", {**good, "member_id": "1", "referred_by": True})
    assert wrong.value.problems == [
        "data.member_id: expected int, got '1'",
        "data.referred_by: expected int | None, got True",
    ]


def test_the_checker_looks_inside_lists_and_objects_and_knows_optional_keys():
    posting = {"member_id": None, "system": "issuance", "amount": -5, "balance": None}
    data = {
        "transfer_id": 1,
        "kind": "award",
        "currency": "points",
        "reason": "r",
        "reverses": None,
        "postings": [posting],
    }
    with pytest.raises(InvalidPayload) as nested:
        payloads.check("ledger.transfer_posted", data)
    assert nested.value.problems == ["data.postings[0]: missing key 'version'"]
    payloads.check(
        "tournament.status_changed", {"tournament_id": 1, "from": "draft", "to": "registration"}
    )
    with pytest.raises(InvalidPayload) as optional:
        payloads.check(
            "tournament.status_changed",
            {"tournament_id": 1, "from": "a", "to": "b", "refunded": False},
        )
    assert optional.value.problems == ["data.refunded: expected int, got False"]
    with pytest.raises(InvalidPayload) as levels:
        payloads.check(
            "narrative.decision_made",
            {
                "story_id": 1,
                "chapter_id": 1,
                "choice_id": 1,
                "decision_id": 1,
                "member_id": 1,
                "next_chapter_id": None,
                "ending": "",
                "reward": 0,
                "currency": "points",
                "transfer_id": None,
                "levels": {"3": "10"},
            },
        )
    assert levels.value.problems == ["data.levels['3']: expected int, got '10'"]


def test_a_kind_without_a_schema_is_refused():
    with pytest.raises(UnknownEventKind):
        payloads.check("ledger.gift_sent", {})


def test_a_statement_cannot_build_other_keys_than_its_schema():
    from ledger.payloads import Posting

    with pytest.raises(TypeError, match="missing version"):
        payloads.sql_object(
            Posting, member_id="1", system="NULL", amount="1", balance="NULL", bonus="0"
        )

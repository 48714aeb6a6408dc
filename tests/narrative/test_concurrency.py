"""Double submits from several processes at once, each with its own PostgreSQL connection:
the row lock on the member's current chapter lets exactly one decision through; the others
answer with it (same choice) or refuse (another choice). One decision, one reward, the
impacts applied once."""

from __future__ import annotations

import pytest
from django.db import connections

from config.db import Ref
from events.models import Event
from integrity.registry import all_checks
from integrity.runner import run_checks
from ledger.models import Account, Transfer
from narrative.actions import make_choice, reward_key, start_story
from narrative.demo import load_demo_story
from narrative.models import Choice, Decision, Progress, Relationship
from tests.factories import MemberFactory
from tests.helpers import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SUBMITS = 8


def _choose(job):
    member_id, choice_id = job
    try:
        decision = make_choice(Ref(member_id), Ref(choice_id))
        return ("ok", decision.pk, decision.created, None)
    except Exception as error:
        return ("refused", type(error).__name__, str(error), None)
    finally:
        connections.close_all()


def assert_clean() -> None:
    names = [c.name for c in all_checks() if c.name.startswith(("narrative.", "ledger."))]
    report = run_checks(names)
    assert report.ok, [(r.name, r.sample, r.error) for r in report.checks if r.status != "ok"]


def test_eight_submits_of_one_choice_at_once_record_one_decision_and_pay_once():
    story = load_demo_story()
    member = MemberFactory()
    start_story(member, story)
    row_out = Choice.objects.get(chapter__story=story, text="Row out to the wreck")

    outcomes = at_once(_choose, [(member.pk, row_out.pk)] * SUBMITS)

    assert [o[0] for o in outcomes] == ["ok"] * SUBMITS, outcomes
    assert len({o[1] for o in outcomes}) == 1
    assert sorted(o[2] for o in outcomes) == [False] * (SUBMITS - 1) + [True]
    assert Decision.objects.filter(member=member).count() == 1
    assert (
        Transfer.objects.filter(idempotency_key=reward_key(member.pk, row_out.chapter_id)).count()
        == 1
    )
    assert Account.objects.get(member=member, currency__code="points").balance == 110
    assert Relationship.objects.get(member=member).level == 10
    assert Event.objects.filter(kind="narrative.decision_made").count() == 1
    assert list(
        Progress.objects.filter(member=member)
        .order_by("chapter__number")
        .values_list("chapter__number", "status")
    ) == [(1, "completed"), (2, "started")]
    assert_clean()


def test_different_choices_for_one_chapter_at_once_let_exactly_one_through():
    story = load_demo_story()
    members = [MemberFactory() for _ in range(4)]
    first = Choice.objects.filter(chapter__story=story, chapter__number=1).order_by("position")
    row_out, lamp = list(first)
    jobs = []
    for member in members:
        start_story(member, story)
        jobs += [(member.pk, row_out.pk), (member.pk, lamp.pk)] * 2

    outcomes = at_once(_choose, jobs)

    refused = [o for o in outcomes if o[0] == "refused"]
    assert {o[1] for o in refused} <= {"ChapterAlreadyDecided"}, refused
    assert Decision.objects.count() == len(members)
    for member in members:
        decision = Decision.objects.get(member=member)
        took = row_out if decision.choice_id == row_out.pk else lamp
        # The winner's submits answered with its decision; the other choice was refused.
        assert (
            Account.objects.get(member=member, currency__code="points").balance == 100 + took.reward
        )
    assert Event.objects.filter(kind="narrative.decision_made").count() == len(members)
    assert_clean()

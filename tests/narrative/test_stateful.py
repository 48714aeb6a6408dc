"""Random choice sequences against a model of the story: Hypothesis makes members start
the demo story, submit any choice of it (current, off the path, in a decided chapter, the
same one again), lose or gain points and VIP status, and after every step the integrity
checks are clean and the database agrees with the model (decisions, where each member
is, relationship levels, balances).

Each example runs inside a savepoint of the test's transaction and is rolled back to it
at teardown, so every example starts from the same members and story.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from accounts.actions import cancel_subscription, start_subscription
from accounts.models import Member, Subscription
from config.db import Ref
from integrity.registry import all_checks
from integrity.runner import run_checks
from ledger.actions import award, spend
from ledger.exceptions import InsufficientFunds
from ledger.models import Account
from narrative.actions import make_choice, start_story
from narrative.demo import load_demo_story
from narrative.exceptions import (
    ChapterAlreadyDecided,
    ChapterLocked,
    NotCurrentChapter,
    NotStarted,
)
from narrative.models import Chapter, Choice, Decision, Progress, Relationship
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MEMBERS = 3
who = st.integers(min_value=0, max_value=MEMBERS - 1)
CHECKS = [c.name for c in all_checks() if c.name.startswith(("narrative.", "ledger."))]


class StoryMachine(RuleBasedStateMachine):
    members: list[int] = []
    story_id: int = 0

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.choices = list(
            Choice.objects.filter(chapter__story_id=self.story_id)
            .select_related("chapter", "next_chapter")
            .prefetch_related("impacts__character")
            .order_by("pk")
        )
        self.first = Chapter.objects.get(story_id=self.story_id, number=1).pk
        self.current: dict[int, int | None] = {}  # member -> current chapter (None: ended)
        self.decided: dict[tuple[int, int], int] = {}  # (member, chapter) -> choice
        self.levels: dict[tuple[int, str], int] = {}
        self.balance = {m: self.points(m) for m in self.members}
        self.vip = dict.fromkeys(self.members, False)

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    @staticmethod
    def points(member_id: int) -> int:
        return Account.objects.get(member_id=member_id, currency__code="points").balance

    def locked(self, member_id: int, choice: Choice) -> bool:
        """Whether the chapter `choice` leads to shuts the member out (an ending: never)."""
        chapter = choice.next_chapter
        if chapter is None:
            return False
        if chapter.vip_only and not self.vip[member_id]:
            return True
        return chapter.unlock_rule == "min_balance" and (
            self.balance[member_id] < chapter.unlock_amount
        )

    @rule(m=who)
    def start(self, m):
        member_id = self.members[m]
        start_story(Ref(member_id), Ref(self.story_id))
        self.current.setdefault(member_id, self.first)

    @rule(m=who, data=st.data())
    def choose(self, m, data):
        member_id = self.members[m]
        # Mostly a choice of the member's current chapter (so paths get long), at times
        # any choice of the story (off the path, decided, not started).
        here = [c for c in self.choices if c.chapter_id == self.current.get(member_id)]
        on_path = here and data.draw(st.integers(min_value=0, max_value=4)) > 0
        choice = data.draw(st.sampled_from(here if on_path else self.choices))
        chapter = choice.chapter
        try:
            decision = make_choice(Ref(member_id), Ref(choice.pk))
        except NotStarted:
            assert member_id not in self.current
            return
        except ChapterAlreadyDecided:
            assert self.decided[(member_id, chapter.pk)] != choice.pk
            return
        except NotCurrentChapter:
            assert member_id in self.current
            assert self.current[member_id] != chapter.pk
            assert (member_id, chapter.pk) not in self.decided
            return
        except ChapterLocked:
            assert self.current.get(member_id) == chapter.pk
            assert self.locked(member_id, choice)
            return
        key = (member_id, chapter.pk)
        if not decision.created:
            assert self.decided[key] == choice.pk
            return
        assert key not in self.decided
        assert self.current.get(member_id) == chapter.pk
        assert not self.locked(member_id, choice)
        self.decided[key] = choice.pk
        self.current[member_id] = choice.next_chapter_id
        self.balance[member_id] += choice.reward
        for impact in choice.impacts.all():
            name = (member_id, impact.character.name)
            self.levels[name] = self.levels.get(name, 0) + impact.delta

    @rule(m=who, amount=st.integers(min_value=1, max_value=120))
    def spend_points(self, m, amount):
        member_id = self.members[m]
        try:
            spend(
                Ref(member_id),
                amount,
                sink="reading",
                reason="reading",
                idempotency_key=f"spend-{member_id}-{len(self.decided)}-{amount}-{self.balance}",
            )
        except InsufficientFunds:
            assert self.balance[member_id] < amount
            return
        self.balance[member_id] -= amount

    @rule(m=who, amount=st.integers(min_value=1, max_value=80))
    def earn_points(self, m, amount):
        member_id = self.members[m]
        award(
            Ref(member_id),
            amount,
            reason="quiz",
            idempotency_key=f"earn-{member_id}-{amount}-{self.balance}",
        )
        self.balance[member_id] += amount

    @rule(m=who)
    def toggle_vip(self, m):
        member_id = self.members[m]
        self.vip[member_id] = not self.vip[member_id]
        if self.vip[member_id]:  # VIP is premium now: a premium subscription
            start_subscription(Member.objects.get(pk=member_id), tier="premium")
        else:
            cancel_subscription(Subscription.objects.get(member_id=member_id, status="active"))

    @invariant()
    def integrity_checks_are_clean(self):
        report = run_checks(CHECKS)
        assert report.ok, [(r.name, r.sample, r.error) for r in report.checks if r.status != "ok"]

    @invariant()
    def the_database_agrees_with_the_model(self):
        decided = {
            (d.member_id, d.chapter_id): d.choice_id
            for d in Decision.objects.filter(member_id__in=self.members)
        }
        assert decided == self.decided
        current = dict(
            Progress.objects.filter(member_id__in=self.members, status="started").values_list(
                "member_id", "chapter_id"
            )
        )
        assert current == {m: c for m, c in self.current.items() if c is not None}
        levels = {
            (r.member_id, r.character.name): r.level
            for r in Relationship.objects.filter(member_id__in=self.members).select_related(
                "character"
            )
        }
        assert levels == self.levels
        assert {m: self.points(m) for m in self.members} == self.balance


def test_random_choice_sequences_keep_the_integrity_checks_clean(db):
    StoryMachine.story_id = load_demo_story().pk
    StoryMachine.members = [MemberFactory().pk for _ in range(MEMBERS)]
    run_state_machine_as_test(
        StoryMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

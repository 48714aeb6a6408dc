"""Analytics fixtures: a small history made through the actions, and the values it
should roll up to, counted by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from django.utils import timezone

from accounts.actions import start_subscription
from ledger.achievements import grant_achievement, record_activity
from ledger.actions import award, spend, transfer
from ledger.models import Achievement, AchievementRule, Currency
from narrative.actions import make_choice, start_story
from narrative.demo import load_demo_story
from narrative.models import Choice
from payments.actions import complete_payment, refund_payment, start_payment
from tests.factories import MemberFactory, TournamentFactory
from tests.tournaments.helpers import checks_at_the_end
from tournaments.actions import check_in, close_check_in, open_check_in, register

_deferred_checks_pass = pytest.fixture(autouse=True)(checks_at_the_end)


@dataclass
class History:
    today: date
    closes: date  # the day the tournament's check-in window closes
    members: list = field(default_factory=list)
    expected: dict = field(default_factory=dict)  # (metric, dimension) -> value, today


@pytest.fixture
def history(db) -> History:
    """Today: 5 members (one referred), awards, a spend, a gift, an achievement, a
    subscription, three story starts and decisions, a tournament with 4 registrations, 2
    check-ins and 2 no-shows; activity on three days."""
    now = timezone.now()
    made = History(today=now.date(), closes=(now + timedelta(minutes=3)).date())
    alice = MemberFactory()
    members = [alice, MemberFactory(referral_code=alice.referral_code)]
    members += [MemberFactory() for _ in range(3)]
    made.members = members
    points = Currency.objects.get(code="points")
    award(members[0], 50, reason="quiz", idempotency_key="t:award:1")
    award(members[1], 30, reason="quiz", idempotency_key="t:award:2")
    spend(members[0], 20, sink="shop", reason="hat", idempotency_key="t:spend:1")
    transfer(members[2], members[3], 15, reason="gift", idempotency_key="t:gift:1")
    badge = Achievement.objects.create(code="first", name="First", rule=AchievementRule.GRANTED)
    grant_achievement(members[4], badge)
    start_subscription(members[0], tier="premium")
    _two_purchases_one_refunded(members[1])
    story = load_demo_story()
    first = Choice.objects.filter(chapter__story=story, chapter__number=1).order_by("pk")[0]
    for member in members[:3]:
        start_story(member, story)
    make_choice(members[0], first)
    make_choice(members[1], first)
    cup = _tournament_with_two_no_shows(now, members[1:5])
    for member in members[:4]:
        record_activity(member)
    for member in members[:2]:
        record_activity(member, made.today - timedelta(days=3))
    record_activity(members[4], made.today - timedelta(days=20))

    bonus, referral = points.signup_bonus, points.referral_bonus
    story_key = str(story.pk)
    expected = {
        ("members.registered", ""): 5,
        ("referrals.converted", ""): 1,
        ("members.dau", ""): 4,
        ("members.wau", ""): 4,
        ("members.mau", ""): 5,
        ("ledger.issued", "points:award"): 80 + 2 * first.reward,  # two story rewards
        ("ledger.spent", "points:spend"): 20,
        ("ledger.issued", "points:transfer"): 15,
        ("ledger.spent", "points:transfer"): 15,
        ("ledger.gifts", "points"): 1,
        ("ledger.spent", "points:purchase"): 4 * 10,  # entry fees
        ("achievements.granted", "first"): 1,
        ("subscriptions.started", "premium"): 1,
        ("narrative.starts", story_key): 3,
        ("narrative.decided", f"{story_key}:1"): 2,
        ("tournaments.registrations", ""): 4,
        ("payments.purchases", "EUR"): 2,
        ("payments.money_in", "EUR"): 998,
        ("payments.refunds", "EUR"): 1,
        ("payments.money_refunded", "EUR"): 499,
        ("ledger.issued", "credits:award"): 200,  # the credits bought
        ("ledger.spent", "credits:reversal"): 100,  # the refund took one back
        # Registered this week, active this week: members 0-3 (4 had a day 20 days ago).
        ("retention.active", _monday(made.today).isoformat()): 4,
    }
    if bonus:
        expected["ledger.issued", "points:bonus"] = 5 * bonus
    if referral:
        expected["ledger.issued", "points:referral_bonus"] = referral
    made.expected = {key: value for key, value in expected.items() if value is not None}
    made.tournament = cup
    made.story = story
    return made


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _two_purchases_one_refunded(member) -> None:
    """Two purchases of 100 credits for 4.99 EUR; the second refunded."""
    for reference in ("p1", "p2"):
        start_payment(
            member,
            provider="stripe",
            reference=reference,
            amount=499,
            currency="EUR",
            credit_amount=100,
        )
        complete_payment("stripe", reference)
    refund_payment("stripe", "p2", reason="asked")


def _tournament_with_two_no_shows(now, members):
    """4 slots, 4 registered, 2 check in, check-in closes: 2 no-shows."""
    cup = TournamentFactory(
        capacity=4,
        entry_fee=10,
        registration_opens_at=now - timedelta(hours=1),
        registration_closes_at=now + timedelta(minutes=1),
        check_in_opens_at=now + timedelta(minutes=2),
        check_in_closes_at=now + timedelta(minutes=3),
    )
    seats = [register(cup, member) for member in members]
    open_check_in(cup)
    check_in(seats[0])
    check_in(seats[1])
    close_check_in(cup)
    return cup

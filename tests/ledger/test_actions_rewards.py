"""Rewards: signup and referral bonuses when wallets open, achievements, activity days
and streaks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.actions import register_member
from events.models import Event
from ledger.actions import award, grant_achievement, open_wallets, record_activity, spend, transfer
from ledger.exceptions import AchievementError, InvalidRequest
from ledger.models import (
    Account,
    Achievement,
    AchievementRule,
    ActivityDay,
    Currency,
    MemberAchievement,
    Streak,
    Transfer,
)
from tests.factories import MemberFactory
from tests.helpers import refused_writing_nothing
from tests.ledger.helpers import achievement, balance, everything, lines

pytestmark = pytest.mark.django_db

# --- registration: open_wallets ----------------------------------------------------------


def test_registration_opens_each_signup_wallet_and_pays_the_signup_bonus(alice):
    assert list(
        Account.objects.filter(member=alice)
        .order_by("currency__code")
        .values_list("currency__code", "balance", "held", "version")
    ) == [("credits", 0, 0, 0), ("points", 100, 0, 1)]
    bonus = Transfer.objects.get(idempotency_key=f"signup:{alice.pk}:points")
    assert (bonus.kind, bonus.reason) == ("bonus", "Welcome bonus")
    assert lines(bonus) == [(alice.pk, "", 100, 100, 1), (None, "issuance", -100, None, None)]
    assert Transfer.objects.filter(postings__account__member=alice).count() == 1


def test_a_referred_registration_pays_the_referrer_the_referral_bonus(alice, staff):
    newcomer = register_member(
        platform="web", external_id="new", referral_code=alice.referral_code, actor=staff
    ).member
    assert (balance(alice), balance(newcomer)) == (150, 100)
    referral = Transfer.objects.get(idempotency_key=f"referral:{newcomer.pk}:points")
    assert (referral.kind, referral.context, referral.actor_id) == (
        "referral_bonus",
        {"referred_member_id": newcomer.pk},
        staff.pk,
    )
    assert lines(referral) == [(alice.pk, "", 50, 150, 2), (None, "issuance", -50, None, None)]


def test_open_wallets_again_pays_nothing_twice(alice, bob):
    before = everything()
    wallets = open_wallets(alice, referrer=bob)
    # bob's referral bonus for alice is new; her signup bonus is not paid again.
    assert [w.currency.code for w in wallets] == ["points", "credits"]
    assert (balance(alice), balance(bob)) == (100, 150)
    after_first = everything()
    assert after_first != before
    open_wallets(alice, referrer=bob)
    assert everything() == after_first


def test_registration_follows_each_currencys_signup_settings(db, gems):
    Currency.objects.create(code="stars", name="Stars", signup_bonus=7, referral_bonus=3)
    first = MemberFactory(platform="web", external_id="first")
    second = register_member(
        platform="web", external_id="second", referral_code=first.referral_code
    ).member
    assert not Account.objects.filter(currency=gems).exists()
    assert (balance(first, "stars"), balance(second, "stars")) == (10, 7)


def test_registration_without_signup_bonus_writes_no_transfer(db):
    Currency.objects.update(signup_bonus=0)
    member = MemberFactory(platform="web", external_id="quiet")
    assert Account.objects.filter(member=member).count() == 2
    assert not Transfer.objects.exists()


# --- achievements ------------------------------------------------------------------------


def balance_achievement(points, threshold=150, reward=10, code="rich", **fields):
    return achievement(
        code,
        rule=AchievementRule.BALANCE,
        threshold=threshold,
        reward_amount=reward,
        reward_currency=points,
        **fields,
    )


def test_a_balance_achievement_is_granted_when_the_balance_reaches_it(alice, points):
    rich = balance_achievement(points)
    award(alice, 49, reason="x", idempotency_key="a")
    assert not MemberAchievement.objects.exists()
    award(alice, 1, reason="x", idempotency_key="b")
    grant = MemberAchievement.objects.get()
    assert (grant.member_id, grant.achievement_id) == (alice.pk, rich.pk)
    reward = grant.transfer
    assert (reward.kind, reward.idempotency_key, reward.context) == (
        "achievement",
        f"achievement:rich:{alice.pk}",
        {"achievement": "rich"},
    )
    assert lines(reward) == [(alice.pk, "", 10, 160, 4), (None, "issuance", -10, None, None)]
    assert balance(alice) == 160
    assert Event.objects.filter(kind="ledger.achievement_granted").count() == 1


def test_a_balance_achievement_is_paid_once(alice, points):
    balance_achievement(points)
    award(alice, 60, reason="x", idempotency_key="a")
    spend(alice, 100, sink="shop", reason="x", idempotency_key="b")
    award(alice, 90, reason="x", idempotency_key="c")
    assert MemberAchievement.objects.count() == 1
    assert Transfer.objects.filter(kind="achievement").count() == 1
    assert balance(alice) == 100 + 60 + 10 - 100 + 90


def test_a_transfer_grants_the_recipient_not_the_sender(alice, bob, points):
    balance_achievement(points)
    transfer(alice, bob, 50, reason="gift", idempotency_key="t")
    assert list(MemberAchievement.objects.values_list("member_id", flat=True)) == [bob.pk]


def test_a_reward_that_reaches_the_next_threshold_grants_that_one_too(alice, points):
    balance_achievement(points, threshold=150, reward=100, code="rich")
    balance_achievement(points, threshold=250, reward=0, code="richer")
    award(alice, 50, reason="x", idempotency_key="a")
    assert sorted(
        MemberAchievement.objects.filter(member=alice).values_list("achievement__code", flat=True)
    ) == ["rich", "richer"]
    assert balance(alice) == 250
    assert Event.objects.filter(kind="ledger.achievement_granted").count() == 2


def test_registration_grants_the_balance_achievements_its_bonus_reaches(db, points):
    balance_achievement(points, threshold=100, reward=5, code="welcome")
    member = MemberFactory(platform="web", external_id="new")
    assert MemberAchievement.objects.filter(member=member).count() == 1
    assert balance(member) == 105


def test_balance_achievements_of_other_currencies_or_inactive_are_not_granted(alice, points):
    credits = Currency.objects.get(code="credits")
    achievement(
        "credit-rich",
        rule=AchievementRule.BALANCE,
        threshold=1,
        reward_amount=1,
        reward_currency=credits,
    )
    balance_achievement(points, code="dormant", is_active=False)
    award(alice, 100, reason="x", idempotency_key="a")
    assert not MemberAchievement.objects.exists()


def test_granting_an_achievement_twice_returns_the_first_grant_and_pays_once(alice, points):
    helper = achievement("helper", reward_amount=25, reward_currency=points)
    first = grant_achievement(alice, helper)
    before = everything()
    again = grant_achievement(alice, helper)
    assert again == first
    assert everything() == before
    assert balance(alice) == 125
    assert Transfer.objects.filter(kind="achievement").count() == 1


def test_an_achievement_without_reward_is_granted_without_transfer(alice):
    first_steps = achievement("first-steps")
    grant = grant_achievement(alice, first_steps)
    assert grant.transfer_id is None
    assert balance(alice) == 100
    event = Event.objects.get(kind="ledger.achievement_granted")
    assert event.data == {
        "member_id": alice.pk,
        "achievement": "first-steps",
        "name": "First Steps",
        "reward": 0,
        "currency": None,
        "transfer_id": None,
    }


def test_an_inactive_achievement_cannot_be_granted(alice, points):
    retired = achievement("retired", reward_amount=5, reward_currency=points, is_active=False)
    refused_writing_nothing(AchievementError, lambda: grant_achievement(alice, retired))


def test_an_unsaved_achievement_cannot_be_granted(alice):
    refused_writing_nothing(
        InvalidRequest, lambda: grant_achievement(alice, Achievement(code="ghost"))
    )


# --- activity and streaks ----------------------------------------------------------------

DAY = date(2024, 5, 1)


def days(n: int) -> date:
    return DAY + timedelta(days=n)


def streak_of(member) -> tuple[int, int, date | None]:
    streak = Streak.objects.get(member=member)
    return streak.current, streak.longest, streak.last_day


def test_the_first_activity_starts_a_streak(alice):
    streak = record_activity(alice, DAY)
    assert (streak.current, streak.longest, streak.last_day) == (1, 1, DAY)
    assert streak_of(alice) == (1, 1, DAY)


def test_record_activity_today_by_default(alice):
    record_activity(alice)
    assert streak_of(alice) == (1, 1, timezone.localdate())


def test_record_activity_is_idempotent_per_day(alice):
    record_activity(alice, DAY)
    before = everything()
    streak = record_activity(alice, DAY)
    assert (streak.current, streak.longest) == (1, 1)
    assert everything() == before
    assert ActivityDay.objects.filter(member=alice).count() == 1


def test_consecutive_days_grow_the_streak(alice):
    for n in range(3):
        record_activity(alice, days(n))
    assert streak_of(alice) == (3, 3, days(2))


def test_a_missed_day_starts_over_and_keeps_the_longest(alice):
    for n in (0, 1, 2, 4):
        record_activity(alice, days(n))
    assert streak_of(alice) == (1, 3, days(4))
    record_activity(alice, days(5))
    assert streak_of(alice) == (2, 3, days(5))


def test_a_late_day_that_closes_a_gap_recounts_the_streak(alice):
    record_activity(alice, days(0))
    record_activity(alice, days(2))
    assert streak_of(alice) == (1, 1, days(2))
    record_activity(alice, days(1))
    assert streak_of(alice) == (3, 3, days(2))


def test_a_late_day_before_the_current_run_keeps_the_current_streak(alice):
    for n in (0, 1, 2, 10, 11):
        record_activity(alice, days(n))
    record_activity(alice, days(5))
    assert streak_of(alice) == (2, 3, days(11))
    record_activity(alice, days(3))
    record_activity(alice, days(4))
    assert streak_of(alice) == (2, 6, days(11))


def test_activity_is_kept_per_member(alice, bob):
    record_activity(alice, days(0))
    record_activity(alice, days(1))
    record_activity(bob, days(1))
    assert (streak_of(alice)[0], streak_of(bob)[0]) == (2, 1)


def test_a_streak_achievement_is_granted_at_its_threshold(alice, points):
    achievement(
        "three-days",
        rule=AchievementRule.STREAK,
        threshold=3,
        reward_amount=20,
        reward_currency=points,
    )
    record_activity(alice, days(0))
    record_activity(alice, days(1))
    assert not MemberAchievement.objects.exists()
    record_activity(alice, days(2))
    grant = MemberAchievement.objects.get()
    assert (grant.member_id, grant.achievement.code) == (alice.pk, "three-days")
    assert balance(alice) == 120
    record_activity(alice, days(3))
    assert MemberAchievement.objects.count() == 1
    assert balance(alice) == 120


def test_a_late_day_that_completes_a_streak_grants_its_achievement(alice):
    achievement("three-days", rule=AchievementRule.STREAK, threshold=3)
    record_activity(alice, days(0))
    record_activity(alice, days(2))
    record_activity(alice, days(1))
    assert MemberAchievement.objects.filter(member=alice).count() == 1


@pytest.mark.parametrize(
    "day",
    [
        "2024-05-01",
        20240501,
        "",
        0,
        datetime(2024, 5, 2, 12, 0),
        datetime(2024, 5, 2, 12, 0, tzinfo=UTC),
    ],
    ids=["text", "number", "empty", "zero", "datetime", "aware-datetime"],
)
def test_record_activity_refuses_a_day_that_is_not_a_date(alice, day):
    record_activity(alice, DAY)
    refused_writing_nothing(InvalidRequest, lambda: record_activity(alice, day))

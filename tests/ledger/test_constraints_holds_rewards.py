"""The ledger's rules on holds, achievements and streaks that the database holds, proven
with raw SQL that skips the ORM."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.achievements import record_activity
from ledger.models import Achievement, AchievementRule, Hold
from tests.helpers import insert, refused, sql
from tests.ledger.rows import currency_id, signup_transfer, wallet_id

pytestmark = pytest.mark.django_db

# --- hold --------------------------------------------------------------------------------


def hold_row(member, **overrides) -> tuple[str, list]:
    now = timezone.now()
    values = {
        "account_id": wallet_id(member),
        "amount": 10,
        "sink": "sink:reading",
        "status": "pending",
        "idempotency_key": "raw-hold",
        "reason": "raw",
        "context": "{}",
        "created_at": now,
        "expires_at": now + timedelta(hours=1),
        "settled_at": None,
        "transfer_id": None,
        **overrides,
    }
    return insert("ledger_hold", **values)


SETTLED = timezone.now()


def test_a_well_formed_hold_row_is_accepted(alice):
    sql(*hold_row(alice))
    sql(*hold_row(alice, idempotency_key="raw-2", status="released", settled_at=SETTLED))
    sql(
        *hold_row(
            alice,
            idempotency_key="raw-3",
            status="captured",
            settled_at=SETTLED,
            transfer_id=signup_transfer(alice).pk,
        )
    )
    assert Hold.objects.count() == 3


@pytest.mark.parametrize("amount", [0, -10])
def test_a_hold_amount_is_positive(alice, amount):
    refused(*hold_row(alice, amount=amount), constraint="ledger_hold_amount_positive")


def test_a_hold_status_must_be_known(alice):
    refused(
        *hold_row(alice, status="frozen", settled_at=SETTLED),
        constraint="ledger_hold_status_valid",
    )


@pytest.mark.parametrize("expiry", [timedelta(0), timedelta(seconds=-1)])
def test_a_hold_expires_after_it_starts(alice, expiry):
    now = timezone.now()
    refused(
        *hold_row(alice, created_at=now, expires_at=now + expiry),
        constraint="ledger_hold_expires_after_start",
    )


@pytest.mark.parametrize(
    ("status", "settled_at"),
    [("pending", SETTLED), ("released", None), ("expired", None)],
)
def test_a_hold_is_settled_exactly_when_it_is_no_longer_pending(alice, status, settled_at):
    refused(
        *hold_row(alice, status=status, settled_at=settled_at),
        constraint="ledger_hold_settled_unless_pending",
    )


@pytest.mark.parametrize(("status", "with_transfer"), [("captured", False), ("released", True)])
def test_a_hold_has_a_transfer_exactly_when_captured(alice, status, with_transfer):
    transfer = signup_transfer(alice).pk if with_transfer else None
    refused(
        *hold_row(alice, status=status, settled_at=SETTLED, transfer_id=transfer),
        constraint="ledger_hold_captured_has_transfer",
    )


def test_a_hold_idempotency_key_is_used_once(alice):
    sql(*hold_row(alice))
    refused(*hold_row(alice), constraint="ledger_hold_idempotency_key_key", unique=True)


def test_a_transfer_captures_at_most_one_hold(alice):
    captured = {"status": "captured", "settled_at": SETTLED}
    sql(*hold_row(alice, transfer_id=signup_transfer(alice).pk, **captured))
    refused(
        *hold_row(
            alice, idempotency_key="raw-2", transfer_id=signup_transfer(alice).pk, **captured
        ),
        constraint="ledger_hold_transfer_id_key",
        unique=True,
    )


# --- achievements ------------------------------------------------------------------------


def achievement_row(**overrides) -> tuple[str, list]:
    values = {
        "code": "first-steps",
        "name": "First steps",
        "description": "",
        "category": "",
        "reward_amount": 0,
        "reward_currency_id": None,
        "rule": "granted",
        "threshold": None,
        "is_active": True,
        **overrides,
    }
    return insert("ledger_achievement", **values)


def test_well_formed_achievement_rows_are_accepted(db):
    points = currency_id("points")
    sql(*achievement_row(code="a" * 64))
    sql(*achievement_row(code="paid", reward_amount=5, reward_currency_id=points))
    sql(*achievement_row(code="streak-7", rule="streak", threshold=7))
    sql(*achievement_row(code="rich", rule="balance", threshold=1, reward_currency_id=points))
    assert Achievement.objects.count() == 4


@pytest.mark.parametrize("code", ["", "First", "-first", "two words", "first!", "first\n"])
def test_achievement_code_is_lowercase_and_plain(db, code):
    refused(*achievement_row(code=code), constraint="ledger_achievement_code_format")


def test_achievement_code_is_unique(db):
    sql(*achievement_row())
    refused(*achievement_row(), constraint="ledger_achievement_code_key", unique=True)


def test_achievement_rule_must_be_known(db):
    refused(*achievement_row(rule="luck"), constraint="ledger_achievement_rule_valid")


@pytest.mark.parametrize(("amount", "with_currency"), [(10, False), (-5, True), (-5, False)])
def test_an_achievement_reward_is_positive_and_has_a_currency(db, amount, with_currency):
    refused(
        *achievement_row(
            reward_amount=amount,
            reward_currency_id=currency_id("points") if with_currency else None,
        ),
        constraint="ledger_achievement_reward_has_currency",
    )


@pytest.mark.parametrize(
    ("rule", "threshold", "with_currency"),
    [
        ("granted", 5, False),
        ("streak", None, False),
        ("streak", 0, False),
        ("balance", None, True),
        ("balance", 0, True),
        ("balance", 100, False),
    ],
)
def test_an_achievement_threshold_fits_its_rule(db, rule, threshold, with_currency):
    refused(
        *achievement_row(
            rule=rule,
            threshold=threshold,
            reward_currency_id=currency_id("points") if with_currency else None,
        ),
        constraint="ledger_achievement_threshold_fits_rule",
    )


def test_a_member_gets_an_achievement_once(granted):
    refused(
        *insert(
            "ledger_memberachievement",
            member_id=granted.member_id,
            achievement_id=granted.achievement_id,
            granted_at=timezone.now(),
        ),
        constraint="ledger_memberachievement_once",
        unique=True,
    )


def test_a_transfer_pays_at_most_one_achievement(alice, bob):
    achievement = Achievement.objects.create(code="one", name="One", rule=AchievementRule.GRANTED)
    paid = signup_transfer(alice).pk
    sql(
        *insert(
            "ledger_memberachievement",
            member_id=alice.pk,
            achievement_id=achievement.pk,
            granted_at=timezone.now(),
            transfer_id=paid,
        )
    )
    refused(
        *insert(
            "ledger_memberachievement",
            member_id=bob.pk,
            achievement_id=achievement.pk,
            granted_at=timezone.now(),
            transfer_id=paid,
        ),
        constraint="ledger_memberachievement_transfer_id_key",
        unique=True,
    )


# --- streaks and activity ----------------------------------------------------------------


@pytest.fixture
def streak(alice):
    return record_activity(alice, timezone.localdate())


def test_a_current_streak_never_exceeds_the_longest(streak):
    refused(
        "UPDATE ledger_streak SET current = longest + 1 WHERE member_id = %s",
        [streak.member_id],
        constraint="ledger_streak_current_within_longest",
    )


@pytest.mark.parametrize(
    "assignment", ["last_day = NULL", "current = 0, longest = 0"], ids=["no-day", "no-count"]
)
def test_a_streak_counts_days_exactly_when_it_has_a_last_day(streak, assignment):
    refused(
        f"UPDATE ledger_streak SET {assignment} WHERE member_id = %s",
        [streak.member_id],
        constraint="ledger_streak_current_has_day",
    )


def test_a_fresh_streak_row_has_no_day_and_no_count(bob):
    sql(*insert("ledger_streak", member_id=bob.pk, current=0, longest=0, last_day=None))


def test_an_activity_day_is_recorded_once(streak):
    refused(
        *insert("ledger_activityday", member_id=streak.member_id, day=streak.last_day),
        constraint="ledger_activityday_once",
        unique=True,
    )

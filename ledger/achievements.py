"""Achievements and daily streaks; a reward is paid as a transfer (`ledger.posting`).

Below `ledger.actions` (which offers `grant_achievement` and `record_activity` among its
actions) and above `ledger.posting`, whose statement finds the balance achievements a
transfer reached and hands them to `grant_due`."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

import events
from accounts.actions import note_activity
from config.db import Ref
from ledger import payloads, sql
from ledger.exceptions import AchievementError, InvalidRequest
from ledger.models import (
    ISSUANCE,
    Achievement,
    AchievementRule,
    ActivityDay,
    MemberAchievement,
    Streak,
    Transfer,
    TransferKind,
)
from ledger.plans import (
    Leg,
    Plan,
    SystemKey,
    check_amount,
    check_context,
    check_key,
    check_reason,
    member_id_of,
)
from ledger.posting import post


def achievement_key(achievement: Achievement, member_id: int) -> str:
    """The reward's idempotency key: one reward per member and achievement, ever."""
    return SystemKey(f"achievement:{achievement.code}:{member_id}")


@transaction.atomic
def grant_achievement(member, achievement: Achievement, *, actor=None) -> MemberAchievement:
    """Grant `achievement` to `member` and pay its reward, in one transaction. Granting it
    again (or concurrently) returns the first grant: it is never granted or paid twice."""
    member_id = member_id_of(member)
    achievement = Achievement.objects.filter(pk=getattr(achievement, "pk", None)).first()
    if achievement is None:
        raise InvalidRequest("grant_achievement needs a saved achievement")
    existing = MemberAchievement.objects.filter(member_id=member_id, achievement=achievement)
    if (granted := existing.first()) is not None:
        return granted
    if not achievement.is_active:
        raise AchievementError(f"achievement {achievement.code!r} is not active")
    reward = None
    if achievement.reward_amount:
        # Concurrent grants meet at this key: the second waits, then gets the same transfer.
        reward = _pay(achievement, member_id, actor)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            sql.statement("achievement_grant"),
            {
                "member": member_id,
                "achievement": achievement.pk,
                "now": connection.ops.adapt_datetimefield_value(now),
                "transfer": reward.pk if reward else None,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return existing.get()
    events.publish(
        "ledger.achievement_granted",
        payloads.achievement_granted(
            member_id=member_id,
            achievement=achievement.code,
            name=achievement.name,
            reward=achievement.reward_amount,
            currency=achievement.reward_currency.code if achievement.reward_currency else None,
            transfer_id=reward.pk if reward else None,
        ),
        actor=actor,
        subject=f"member:{member_id}",
    )
    return existing.get()


def _pay(achievement: Achievement, member_id: int, actor) -> Transfer:
    """The reward's transfer: what `ledger.actions.award` posts for it (the same plan,
    so the same request for its key), issued here because `award` is above this module."""
    amount = check_amount(achievement.reward_amount)
    return post(
        Plan(
            currency=achievement.reward_currency.code,
            kind=TransferKind.ACHIEVEMENT,
            idempotency_key=check_key(achievement_key(achievement, member_id)),
            reason=check_reason(f"Achievement: {achievement.name}"),
            context=check_context({"achievement": achievement.code}),
            actor_id=None if actor is None else actor.pk,
            legs=(Leg(member_id, None, amount), Leg(None, ISSUANCE, -amount)),
        ),
        grant=grant_due,
    )


def grant_due(pairs, *, actor_id: int | None) -> None:
    """Grant the balance achievements a posting reached: (member id, achievement id)."""
    actor = Ref(actor_id) if actor_id else None
    for member_id, achievement_id in pairs:
        grant_achievement(Ref(member_id), Achievement(pk=achievement_id), actor=actor)


@transaction.atomic
def record_activity(member, day: date | None = None, *, actor=None) -> Streak:
    """Record that `member` was active on `day` (today by default); idempotent per day.

    Keeps the current and longest daily streak and grants the streak achievements it
    reaches. Today's activity also marks the member active (`accounts.actions.note_activity`,
    at most one write a minute)."""
    member_id = member_id_of(member)
    day = timezone.localdate() if day is None else day
    # A datetime is a date too, but would not compare with the stored days.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise InvalidRequest(f"day is a date, not {day!r}")
    if day == timezone.localdate():
        note_activity(member_id)
    with connection.cursor() as cursor:
        cursor.execute(sql.statement("activity_day_insert"), {"member": member_id, "day": day})
        new_day = cursor.fetchone() is not None
        cursor.execute(sql.statement("streak_open"), {"member": member_id})
    streak = Streak.objects.select_for_update().get(member_id=member_id)
    if not new_day:
        return streak
    if streak.last_day is None or day == streak.last_day + timedelta(days=1):
        streak.current += 1
        streak.last_day = day
    elif day > streak.last_day:
        streak.current = 1
        streak.last_day = day
    else:  # a day before the last one arrived late: count the runs again
        # Days before the current run may have been archived (ledger.archive): the
        # longest run they made is kept, never counted down.
        streak.current, longest = _runs(member_id, streak.last_day)
        streak.longest = max(streak.longest, longest)
    streak.longest = max(streak.longest, streak.current)
    streak.save()
    events.publish(
        "ledger.activity_recorded",
        payloads.activity_recorded(
            member_id=member_id, day=day, current=streak.current, longest=streak.longest
        ),
        actor=actor,
        subject=f"member:{member_id}",
    )
    reached = Achievement.objects.filter(
        rule=AchievementRule.STREAK, is_active=True, threshold__lte=streak.current
    ).exclude(grants__member_id=member_id)
    for achievement in reached.order_by("threshold", "pk"):
        grant_achievement(member, achievement, actor=actor)
    return streak


def _runs(member_id: int, last_day: date) -> tuple[int, int]:
    """(current streak ending on `last_day`, longest streak) from the recorded days."""
    days = list(
        ActivityDay.objects.filter(member_id=member_id)
        .order_by("day")
        .values_list("day", flat=True)
    )
    longest = run = 0
    previous = None
    for current_day in days:
        run = run + 1 if previous is not None and current_day == previous + timedelta(1) else 1
        longest = max(longest, run)
        previous = current_day
    current = 0
    expected = last_day
    for current_day in reversed(days):
        if current_day != expected:
            break
        current += 1
        expected -= timedelta(days=1)
    return current, longest

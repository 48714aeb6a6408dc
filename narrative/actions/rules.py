"""What a choice does, and what a chapter asks of the member who enters it.

A chapter may be VIP-only (for members premium now, as accounts defines it:
`accounts.premium`) and has an unlock rule: `previous`, `min_balance` or `subscription`
(the same premium rule). The rules
are checked on entry. `load_plan` reads what a choice does (before the transaction),
`member_state` who the member is as the rules ask, `unmet_rule` names the rule that shuts
them out and `refusal` says why a choice may not be made now. PostgreSQL's claim
(narrative/sql/claim.pg.sql) reads the same columns and holds the same rules in its WHERE;
these then explain a refused claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from accounts.sql import PREMIUM_SUBSCRIBER
from narrative import sql
from narrative.actions.common import db_time
from narrative.exceptions import (
    ChapterLocked,
    InvalidRequest,
    NotCurrentChapter,
    NotStarted,
    StoryNotPublished,
)
from narrative.models import DONE, Chapter, ProgressStatus, UnlockRule


@dataclass(frozen=True)
class ChoicePlan:
    """What a choice does: the columns of narrative/sql/plan.sql, then its impacts."""

    choice_id: int
    text: str
    chapter_id: int
    number: int
    story_id: int
    title: str
    published: bool
    currency_id: int
    currency: str
    # The rules of the chapter the choice leads to (none for an ending): a member enters
    # a chapter only if they meet them.
    vip_only: bool
    unlock_rule: str
    unlock_currency_id: int | None
    unlock_currency: str | None
    unlock_amount: int | None
    next_chapter_id: int | None
    ending: str
    reward: int
    next_number: int | None
    impacts: tuple[tuple[int, int], ...]  # (character id, delta), by character id


PLAN = sql.load("plan")


def load_plan(choice_id: int) -> ChoicePlan:
    with connection.cursor() as cursor:
        cursor.execute(PLAN, {"choice": choice_id})
        row = cursor.fetchone()
        if row is None:
            raise InvalidRequest(f"no choice {choice_id}")
        cursor.execute(sql.load("impacts"), {"choice": choice_id})
        impacts = tuple((character_id, delta) for character_id, delta in cursor.fetchall())
    return ChoicePlan(*row[:6], bool(row[6]), *row[7:9], bool(row[9]), *row[10:], impacts)


@dataclass(frozen=True)
class MemberState:
    """Who the member is, as a chapter's rules ask (narrative/sql/member_state.sql)."""

    is_premium: bool
    progress: str | None  # this chapter's status for the member
    in_story: bool  # any progress in the story
    balance: int | None
    subscribed: bool


def member_state_columns(*, chapter: str, story: str, currency: str, rule: str) -> str:
    """narrative/sql/member_state.sql's select list, its values named as the caller's
    statement names them (SQL expressions); the moment is the parameter `%(now)s`."""
    return sql.load(
        "member_state",
        chapter=chapter,
        story=story,
        currency=currency,
        rule=rule,
        premium_subscriber=PREMIUM_SUBSCRIBER.format(member="m.id", now="%(now)s"),
    )


_MEMBER_STATE = (
    member_state_columns(
        chapter="%(chapter)s", story="%(story)s", currency="%(currency)s", rule="%(rule)s"
    )
    + " FROM accounts_member m WHERE m.id = %(member)s"
)


def member_state(
    member_id: int, *, story_id: int, chapter_id: int, rule: ChoicePlan | Chapter
) -> MemberState:
    """Who `member_id` is in `chapter_id` of `story_id`, as `rule` (the chapter to enter:
    a plan's next chapter, or a `Chapter`) asks."""
    params = {
        "member": member_id,
        "chapter": chapter_id,
        "story": story_id,
        "currency": rule.unlock_currency_id,
        "rule": rule.unlock_rule,
        "now": db_time(timezone.now()),
    }
    with connection.cursor() as cursor:
        cursor.execute(_MEMBER_STATE, params)
        row = cursor.fetchone()
    if row is None:
        raise InvalidRequest(f"no member {member_id}")
    return MemberState(bool(row[0]), row[1], bool(row[2]), row[3], bool(row[4]))


def unmet_rule(
    chapter: ChoicePlan | Chapter, state: MemberState, *, label: str
) -> ChapterLocked | None:
    """The rule of `chapter` the member does not meet now, as the error to raise."""
    if chapter.vip_only and not state.is_premium:
        return ChapterLocked(f"{label} is for VIP members only", rule="vip")
    if chapter.unlock_rule == UnlockRule.MIN_BALANCE:
        code = getattr(chapter, "unlock_currency", None)
        code = code if isinstance(code, str) else getattr(code, "code", "")
        if (state.balance or 0) < chapter.unlock_amount:
            return ChapterLocked(
                f"{label} needs a balance of at least {chapter.unlock_amount} {code}"
                f" (the member has {state.balance or 0})",
                rule=UnlockRule.MIN_BALANCE,
            )
    if chapter.unlock_rule == UnlockRule.SUBSCRIPTION and not state.subscribed:
        return ChapterLocked(
            f"{label} needs an active premium subscription", rule=UnlockRule.SUBSCRIPTION
        )
    return None


class Raced(Exception):
    """A concurrent submit decided the chapter first."""


def refusal(member_id: int, plan: ChoicePlan, state: MemberState) -> Exception | None:
    """Why `member_id` may not make `plan`'s choice now (None: they may)."""
    if not plan.published:
        return StoryNotPublished(f"story {plan.title!r} is not published")
    if state.progress in DONE:
        return Raced()  # decided since we looked
    if state.progress != ProgressStatus.STARTED:
        if not state.in_story:
            return NotStarted(f"member {member_id} has not started {plan.title!r}")
        return NotCurrentChapter(
            f"chapter {plan.number} of {plan.title!r} is not member {member_id}'s current chapter"
        )
    if plan.next_chapter_id is None:
        return None  # an ending: no chapter to enter
    return unmet_rule(plan, state, label=f"chapter {plan.next_number} of {plan.title!r}")

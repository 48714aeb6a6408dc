"""The data of the events narrative publishes (`narrative.*`), defined once.

Each kind is a `TypedDict` registered with `events.payloads.schema` and a builder;
`events.payloads` says why. `narrative.decision_made` is written on PostgreSQL by the
decision's statement itself (narrative/sql/record.pg.sql, its JSON made by
`events.payloads.sql_object` from `DecisionMade`), on SQLite by `decision_made`.
Readers: the story map (dashboard), the dashboard's feed, tests.
"""

from __future__ import annotations

from typing import TypedDict

from events.payloads import schema


@schema("narrative.story_started")
class StoryStarted(TypedDict):
    story_id: int
    member_id: int
    chapter_id: int  # chapter 1's


def story_started(*, story_id: int, member_id: int, chapter_id: int) -> StoryStarted:
    return {"story_id": story_id, "member_id": member_id, "chapter_id": chapter_id}


@schema("narrative.decision_made")
class DecisionMade(TypedDict):
    story_id: int
    chapter_id: int
    choice_id: int
    decision_id: int
    member_id: int
    next_chapter_id: int | None  # None: the choice ends the story
    ending: str  # the ending's title ("" unless it ends the story)
    reward: int
    currency: str  # the story's
    transfer_id: int | None  # the reward's
    levels: dict[str, int]  # character id -> relationship level after the choice


def decision_made(
    *,
    story_id: int,
    chapter_id: int,
    choice_id: int,
    decision_id: int,
    member_id: int,
    next_chapter_id: int | None,
    ending: str,
    reward: int,
    currency: str,
    transfer_id: int | None,
    levels: dict[int, int],
) -> DecisionMade:
    return {
        "story_id": story_id,
        "chapter_id": chapter_id,
        "choice_id": choice_id,
        "decision_id": decision_id,
        "member_id": member_id,
        "next_chapter_id": next_chapter_id,
        "ending": ending,
        "reward": reward,
        "currency": currency,
        "transfer_id": transfer_id,
        "levels": {str(character): level for character, level in sorted(levels.items())},
    }


@schema("narrative.member_rebuilt")
class MemberRebuilt(TypedDict):
    story_id: int
    member_id: int
    progress_fixed: int
    relationships_fixed: int


def member_rebuilt(
    *, story_id: int, member_id: int, progress_fixed: int, relationships_fixed: int
) -> MemberRebuilt:
    return {
        "story_id": story_id,
        "member_id": member_id,
        "progress_fixed": progress_fixed,
        "relationships_fixed": relationships_fixed,
    }


@schema("narrative.story_changed")
class StoryChanged(TypedDict):
    story_id: int
    title: str
    published: bool


def story_changed(*, story_id: int, title: str, published: bool) -> StoryChanged:
    return {"story_id": story_id, "title": title, "published": published}


@schema("narrative.story_published")
class StoryPublished(TypedDict):
    story_id: int
    title: str


def story_published(*, story_id: int, title: str) -> StoryPublished:
    return {"story_id": story_id, "title": title}

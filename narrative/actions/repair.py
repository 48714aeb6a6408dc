"""Repair: progress and relationships recomputed from the decisions.

A member's `Progress` and `Relationship` rows are cached values their decisions imply.
`rebuild_member_state` recomputes them, under the row locks `make_choice` claims a chapter
with, so it can run while the member plays; `rebuild_story` does so for every member of a
story (after its impacts or paths are edited, or by `manage.py rebuild_story_state`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

import events
from accounts.models import Member
from config.db import Ref
from narrative import payloads
from narrative.actions.common import pk_of
from narrative.exceptions import InvalidRequest, RelationshipOutOfRange
from narrative.models import (
    LEVEL_MAX,
    LEVEL_MIN,
    Chapter,
    ChoiceImpact,
    Decision,
    Progress,
    ProgressStatus,
    Relationship,
)

# A chapter's progress as the decisions imply it: (status, started_at, completed_at).
Expected = tuple[str, datetime, datetime | None]


@dataclass
class Rebuilt:
    """What `rebuild_member_state` changed (zero everywhere: the state was right)."""

    progress_fixed: int = 0
    relationships_fixed: int = 0
    stories: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.progress_fixed or self.relationships_fixed)


def rebuild_member_state(member, *, story=None, actor=None) -> Rebuilt:
    """Recompute `member`'s progress and relationship levels (in `story`, or in every
    story they played) from their decisions, as the story reads now, and write what
    differs. Used by repair, and after a story's impacts or paths are edited.

    Raises `RelationshipOutOfRange` (writing nothing) if the story as edited would take
    a level past its bounds."""
    member_id = pk_of(member, "member")
    if not Member.objects.filter(pk=member_id).exists():
        raise InvalidRequest(f"no member {member_id}")
    story_ids = [pk_of(story, "story")] if story is not None else _stories_of(member_id)
    result = Rebuilt(stories=story_ids)
    try:
        with transaction.atomic():
            for story_id in story_ids:
                progress, relationships = _rebuild(member_id, story_id)
                result.progress_fixed += progress
                result.relationships_fixed += relationships
                if progress or relationships:
                    events.publish(
                        "narrative.member_rebuilt",
                        payloads.member_rebuilt(
                            story_id=story_id,
                            member_id=member_id,
                            progress_fixed=progress,
                            relationships_fixed=relationships,
                        ),
                        actor=actor,
                        subject=f"story:{story_id}",
                    )
    except IntegrityError as error:
        if "narrative_relationship_level_in_range" in str(error):
            raise RelationshipOutOfRange(
                f"member {member_id}'s decisions now sum past {LEVEL_MIN}..{LEVEL_MAX}"
            ) from error
        raise
    return result


# Where a member's state in a story is: each model with its (member, story) fields.
_STATE = (
    (Progress, "member_id", "story_id"),
    (Decision, "member_id", "story_id"),
    (Relationship, "member_id", "character__story_id"),
)


def _stories_of(member_id: int) -> list[int]:
    """The stories where the member has any state (progress, decisions, relationships)."""
    found: set[int] = set()
    for model, member, story in _STATE:
        found |= set(model.objects.filter(**{member: member_id}).values_list(story, flat=True))
    return sorted(found)


def _rebuild(member_id: int, story_id: int) -> tuple[int, int]:
    """(progress rows fixed, relationships fixed) of the member in the story."""
    current = _lock_progress(member_id, story_id)
    decisions = list(
        Decision.objects.filter(member_id=member_id, story_id=story_id)
        .select_related("choice")
        .order_by("created_at", "pk")
    )
    expected = _expected_progress(story_id, current, decisions)
    progress_fixed = _fix_progress(member_id, story_id, current, expected)
    relationships_fixed = _fix_relationships(member_id, story_id, _level_sums(decisions))
    return progress_fixed, relationships_fixed


def _lock_progress(member_id: int, story_id: int) -> dict[int, Progress]:
    """The member's progress rows in the story, by chapter, locked to commit.

    The locks make_choice claims a chapter with: once every progress row of the member
    in this story is ours, no decision lands until we commit. A row can appear while
    we wait for one (a claim we waited for started the next chapter): lock again until
    what we hold is everything there is."""
    rows = Progress.objects.filter(member_id=member_id, story_id=story_id)
    while True:
        current = {p.chapter_id: p for p in rows.select_for_update().order_by("pk")}
        if set(rows.values_list("pk", flat=True)) == {p.pk for p in current.values()}:
            return current


def _expected_progress(
    story_id: int, current: dict[int, Progress], decisions: list[Decision]
) -> dict[int, Expected]:
    """Each chapter's progress as the decisions imply it; start times kept where known."""
    expected: dict[int, Expected] = {}
    arrived: dict[int, datetime] = {}
    first_id = (
        Chapter.objects.filter(story_id=story_id, number=1).values_list("pk", flat=True).first()
    )
    if first_id is not None and (current or decisions):
        start = current[first_id].started_at if first_id in current else None
        arrived[first_id] = start or (decisions[0].created_at if decisions else timezone.now())
    for decision in decisions:
        status = ProgressStatus.ENDED if decision.choice.ends_story else ProgressStatus.COMPLETED
        kept = current.get(decision.chapter_id)
        started = kept.started_at if kept else arrived.get(decision.chapter_id, decision.created_at)
        expected[decision.chapter_id] = (status, started, decision.created_at)
        if decision.choice.next_chapter_id is not None:
            arrived.setdefault(decision.choice.next_chapter_id, decision.created_at)
    # The current chapter: where the latest decision led (or chapter 1, before any).
    latest = decisions[-1].choice.next_chapter_id if decisions else first_id if arrived else None
    if latest is not None and latest not in expected:
        kept = current.get(latest)
        expected[latest] = (
            ProgressStatus.STARTED,
            kept.started_at if kept else arrived[latest],
            None,
        )
    return expected


def _fix_progress(
    member_id: int, story_id: int, current: dict[int, Progress], expected: dict[int, Expected]
) -> int:
    """Replace the progress rows that differ from `expected`; the chapters fixed."""
    wrong = [
        p.pk
        for chapter_id, p in current.items()
        if expected.get(chapter_id) != (p.status, p.started_at, p.completed_at)
    ]
    missing = [
        Progress(
            member_id=member_id,
            story_id=story_id,
            chapter_id=chapter_id,
            status=status,
            started_at=started,
            completed_at=completed,
        )
        for chapter_id, (status, started, completed) in expected.items()
        if chapter_id not in current or current[chapter_id].pk in wrong
    ]
    Progress.objects.filter(pk__in=wrong).delete()
    Progress.objects.bulk_create(missing)
    by_pk = {p.pk: chapter_id for chapter_id, p in current.items()}
    return len({by_pk[pk] for pk in wrong} | {p.chapter_id for p in missing})


def _level_sums(decisions: list[Decision]) -> dict[int, int]:
    """Each character's level as the decisions' impacts (as the story reads now) sum."""
    sums: dict[int, int] = {}
    impacts = ChoiceImpact.objects.filter(choice__in=[d.choice_id for d in decisions])
    per_choice: dict[int, list[tuple[int, int]]] = {}
    for choice_id, character_id, delta in impacts.values_list("choice_id", "character_id", "delta"):
        per_choice.setdefault(choice_id, []).append((character_id, delta))
    for decision in decisions:
        for character_id, delta in per_choice.get(decision.choice_id, []):
            sums[character_id] = sums.get(character_id, 0) + delta
    return sums


def _fix_relationships(member_id: int, story_id: int, sums: dict[int, int]) -> int:
    """Set the member's relationship levels in the story to `sums`; the rows changed."""
    have = {
        r.character_id: r
        for r in Relationship.objects.select_for_update(of=("self",))
        .filter(member_id=member_id, character__story_id=story_id)
        .order_by("character_id")
    }
    now = timezone.now()
    fixed = 0
    for character_id in sorted(set(have) | set(sums)):
        level = sums.get(character_id, 0)
        row = have.get(character_id)
        if row is None:
            if level:
                Relationship.objects.create(
                    member_id=member_id, character_id=character_id, level=level, updated_at=now
                )
                fixed += 1
        elif row.level != level:
            Relationship.objects.filter(pk=row.pk).update(level=level, updated_at=now)
            fixed += 1
    return fixed


def members_to_rebuild(story) -> list[int]:
    """Members with any state in `story` (decisions, progress or relationships): whose
    state an edit of its impacts changes, or a repair may have to fix."""
    story_id = pk_of(story, "story")
    found: set[int] = set()
    for model, member, in_story in _STATE:
        found |= set(model.objects.filter(**{in_story: story_id}).values_list(member, flat=True))
    return sorted(found)


def rebuild_story(story, *, actor=None) -> Rebuilt:
    """`rebuild_member_state` for every member who played `story` (one transaction each)."""
    story_id = pk_of(story, "story")
    total = Rebuilt(stories=[story_id])
    for member_id in members_to_rebuild(story_id):
        done = rebuild_member_state(Ref(member_id), story=story_id, actor=actor)
        total.progress_fixed += done.progress_fixed
        total.relationships_fixed += done.relationships_fixed
    return total

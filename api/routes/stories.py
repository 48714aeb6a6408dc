"""Stories: the published list, start, choose, and where a member is — the narrative
actions every other door calls, with the key's actor. A choice may pay a reward, so
choosing requires an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from accounts.models import Member
from api import idempotency
from api.auth import scope
from api.problems import Problem
from api.routes.common import acts, get_or_404
from api.schemas import Id, PathId
from narrative import actions, queries
from narrative.models import Choice, Decision, Progress, Story

router = Router(tags=["stories"])


class StoryOut(Schema):
    id: int
    title: str
    slug: str
    chapter_count: int


class ChoiceOut(Schema):
    id: int
    position: int
    text: str


class PlaceOut(Schema):
    """Where a member is in a story: the chapter (current or where it ended)."""

    story_id: int
    chapter_id: int
    chapter_number: int
    chapter_title: str
    content: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    choices: list[ChoiceOut]


class DecisionOut(Schema):
    id: int
    story_id: int
    chapter_id: int
    choice_id: int
    reward: int
    reward_transfer_id: int | None
    created_at: datetime
    now: PlaceOut | None


class MemberIn(Schema):
    member_id: Id


def place_data(progress: Progress) -> dict:
    chapter = progress.chapter
    return PlaceOut(
        story_id=progress.story_id,
        chapter_id=chapter.pk,
        chapter_number=chapter.number,
        chapter_title=chapter.title,
        content=chapter.content,
        status=progress.status,
        started_at=progress.started_at,
        completed_at=progress.completed_at,
        choices=[
            ChoiceOut(id=c.pk, position=c.position, text=c.text)
            for c in Choice.objects.filter(chapter=chapter).order_by("position", "pk")
        ],
    ).model_dump(mode="json")


def _where(member_id: int, story_id: int) -> dict | None:
    progress = (
        Progress.objects.select_related("chapter")
        .filter(member_id=member_id, story_id=story_id)
        .order_by("-started_at", "-pk")
        .first()
    )
    return place_data(progress) if progress else None


@router.get("", auth=scope("stories:read"), response=list[StoryOut], summary="Published stories")
def list_stories(request: HttpRequest):
    return [
        {"id": s["pk"], "title": s["title"], "slug": s["slug"], "chapter_count": s["chapter_count"]}
        for s in queries.stories()
        if s["published"]
    ]


@router.post(
    "/{story_id}/start",
    auth=scope("stories:write"),
    response={200: PlaceOut},
    summary="Start a story (again: where the member is)",
    openapi_extra=idempotency.OPTIONAL,
)
def start(request: HttpRequest, story_id: PathId, payload: MemberIn):
    acts(payload.member_id)

    def work():
        member = get_or_404(Member.objects, payload.member_id, "member")
        story = get_or_404(Story.objects, story_id, "story")
        progress = actions.start_story(member, story, actor=request.auth.actor)
        return 200, _where(member.pk, story.pk) or place_data(progress)

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=False)


@router.post(
    "/choices/{choice_id}",
    auth=scope("stories:write"),
    response={200: DecisionOut},
    summary="Make a choice in the member's current chapter (may pay a reward)",
    openapi_extra=idempotency.REQUIRED,
)
def choose(request: HttpRequest, choice_id: PathId, payload: MemberIn):
    acts(payload.member_id)

    def work():
        member = get_or_404(Member.objects, payload.member_id, "member")
        choice = get_or_404(Choice.objects.select_related("chapter"), choice_id, "choice")
        decision = actions.make_choice(member, choice, actor=request.auth.actor)
        decision = Decision.objects.get(pk=decision.pk)
        return 200, DecisionOut(
            id=decision.pk,
            story_id=decision.story_id,
            chapter_id=decision.chapter_id,
            choice_id=decision.choice_id,
            reward=decision.reward,
            reward_transfer_id=decision.reward_transfer_id,
            created_at=decision.created_at,
            now=_where(member.pk, decision.story_id),
        ).model_dump(mode="json")

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=True)


@router.get(
    "/{story_id}/members/{member_id}",
    auth=scope("stories:read"),
    response=PlaceOut,
    summary="Where a member is in a story",
)
def where(request: HttpRequest, story_id: PathId, member_id: PathId):
    member = get_or_404(Member.objects, member_id, "member")
    story = get_or_404(Story.objects, story_id, "story")
    place = _where(member.pk, story.pk)
    if place is None:
        raise Problem(404, "story_not_started", "the member has not started this story")
    return place

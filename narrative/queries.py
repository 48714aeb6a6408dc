"""Read models: where a member is, the story map's counts, a member's path."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count

from narrative import graph
from narrative.models import Decision, Progress, ProgressStatus, Relationship, Story


@dataclass
class MapChapter:
    id: int
    number: int
    title: str
    column: int
    row: int
    locks: list[str]  # what it takes besides arriving: "VIP", "50 points", "premium"
    reading: int  # members whose current chapter this is


@dataclass
class MapChoice:
    id: int
    chapter_id: int
    text: str
    next_chapter_id: int | None
    ending: str
    reward: int
    taken: int  # decisions made with it


@dataclass
class StoryMap:
    story_id: int
    title: str
    published: bool
    currency: str
    chapters: list[MapChapter]
    choices: list[MapChoice]
    decisions: int
    readers: int  # members who started the story
    finished: int  # members who reached an ending
    problems: list[str] = field(default_factory=list)


def story_map(story_id: int) -> StoryMap | None:
    """The chapter graph with, on each choice, how many members took it (None if there is
    no such story). Three small grouped queries besides the story's shape."""
    story = Story.objects.filter(pk=story_id).select_related("currency").first()
    if story is None:
        return None
    shape = graph.load(story_id)
    placed = graph.layout(shape)
    taken = dict(
        Decision.objects.filter(story_id=story_id)
        .values_list("choice_id")
        .annotate(n=Count("pk"))
        .values_list("choice_id", "n")
    )
    reading = dict(
        Progress.objects.filter(story_id=story_id, status=ProgressStatus.STARTED)
        .values_list("chapter_id")
        .annotate(n=Count("pk"))
        .values_list("chapter_id", "n")
    )
    progress = Progress.objects.filter(story_id=story_id)
    return StoryMap(
        story_id=story.pk,
        title=story.title,
        published=story.published,
        currency=story.currency.code,
        chapters=[
            MapChapter(
                id=node.id,
                number=node.number,
                title=node.title,
                column=placed[node.id].column,
                row=placed[node.id].row,
                locks=node.locks(),
                reading=reading.get(node.id, 0),
            )
            for node in shape.chapters.values()
        ],
        choices=[
            MapChoice(
                id=edge.id,
                chapter_id=edge.chapter_id,
                text=edge.text,
                next_chapter_id=edge.next_chapter_id,
                ending=edge.ending,
                reward=edge.reward,
                taken=taken.get(edge.id, 0),
            )
            for edge in shape.choices
        ],
        decisions=sum(taken.values()),
        readers=progress.values("member_id").distinct().count(),
        finished=progress.filter(status=ProgressStatus.ENDED).count(),
        problems=graph.problems(shape),
    )


def stories() -> list[dict]:
    """Every story with its counts, newest first (the dashboard's list)."""
    from django.db.models import IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from narrative.models import Chapter

    def count(model):
        rows = model.objects.filter(story=OuterRef("pk")).order_by().values("story")
        return Coalesce(
            Subquery(rows.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0
        )

    return list(
        Story.objects.order_by("-pk")
        .annotate(decision_count=count(Decision), chapter_count=count(Chapter))
        .values("pk", "title", "slug", "published", "decision_count", "chapter_count")[:100]
    )


@dataclass
class Step:
    chapter: int
    chapter_title: str
    choice: str
    ending: str
    reward: int
    at: object


@dataclass
class MemberStory:
    story_id: int
    title: str
    where: str  # "chapter 3: The long night", or "ended: A new dawn"
    path: list[Step]
    levels: list[tuple[str, int]]


def member_stories(member_id: int) -> list[MemberStory]:
    """Each story the member played: their path (decisions in order), where they are now
    and how its characters feel about them."""
    decisions = (
        Decision.objects.filter(member_id=member_id)
        .select_related("chapter", "choice")
        .order_by("story_id", "created_at", "pk")
    )
    by_story: dict[int, list[Step]] = {}
    for d in decisions:
        by_story.setdefault(d.story_id, []).append(
            Step(
                d.chapter.number,
                d.chapter.title,
                d.choice.text,
                d.choice.ending,
                d.reward,
                d.created_at,
            )
        )
    current = {
        p.story_id: p
        for p in Progress.objects.filter(
            member_id=member_id, status=ProgressStatus.STARTED
        ).select_related("chapter")
    }
    levels: dict[int, list[tuple[str, int]]] = {}
    for r in (
        Relationship.objects.filter(member_id=member_id)
        .select_related("character")
        .order_by("character__name")
    ):
        levels.setdefault(r.character.story_id, []).append((r.character.name, r.level))
    story_ids = sorted(set(by_story) | set(current) | set(levels))
    titles = dict(Story.objects.filter(pk__in=story_ids).values_list("pk", "title"))
    out = []
    for story_id in story_ids:
        path = by_story.get(story_id, [])
        if story_id in current:
            chapter = current[story_id].chapter
            where = f"chapter {chapter.number}: {chapter.title}"
        elif path and path[-1].ending:
            where = f"ended: {path[-1].ending}"
        else:
            where = "—"
        out.append(
            MemberStory(story_id, titles.get(story_id, "?"), where, path, levels.get(story_id, []))
        )
    return out

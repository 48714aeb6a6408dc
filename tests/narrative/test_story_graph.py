"""What makes a story playable: the checks the admin and publish_story apply."""

from __future__ import annotations

import pytest

from narrative import graph
from narrative.actions import check_story, create_story, publish_story
from narrative.exceptions import InvalidStory
from narrative.models import Chapter, Choice

pytestmark = pytest.mark.django_db


def one(text="End", **more):
    return {"text": text, **more}


def test_the_demo_story_is_playable(story):
    assert check_story(story) == []
    assert story.published


def test_a_dead_end_an_unreachable_chapter_and_a_loop_are_named():
    story = create_story(
        title="Broken",
        slug="broken",
        chapters=[
            {"number": 1, "title": "Start", "choices": [one("On", to=2)]},
            {"number": 2, "title": "Middle", "choices": [one("Back", to=3)]},
            {"number": 3, "title": "Loop", "choices": [one("Again", to=2)]},
            {"number": 4, "title": "Island", "choices": [one("End", ending="E")]},
            {"number": 5, "title": "Stuck"},
        ],
    )
    problems = check_story(story)
    assert "chapter 5 (Stuck) has no choices: members would be stuck" in problems
    assert "chapter 4 (Island) is unreachable: no path from chapter 1" in problems
    assert "chapter 5 (Stuck) is unreachable: no path from chapter 1" in problems
    assert any("loops" in p for p in problems)
    with pytest.raises(InvalidStory) as refused:
        publish_story(story)
    assert refused.value.problems == problems
    story.refresh_from_db()
    assert not story.published


def test_impacts_that_can_push_a_level_out_of_range_on_some_path_are_named():
    story = create_story(
        title="Heated",
        slug="heated",
        characters=["Rival"],
        chapters=[
            {
                "number": 1,
                "title": "Start",
                "choices": [one("Insult", to=2, impacts={"Rival": -60}), one("Greet", to=2)],
            },
            {
                "number": 2,
                "title": "Again",
                "choices": [one("Insult more", ending="Feud", impacts={"Rival": -50})],
            },
        ],
    )
    assert check_story(story) == [
        "choice 'Insult more' can take Rival to -110 (levels stay within -100..100)"
    ]


def test_a_story_without_chapter_one_cannot_be_published():
    story = create_story(
        title="Headless",
        slug="headless",
        chapters=[{"number": 2, "title": "Two", "choices": [one(ending="E")]}],
    )
    assert check_story(story) == ["the story has no chapter 1 (where members start)"]


def test_create_story_refuses_what_cannot_be_stored():
    with pytest.raises(InvalidStory):
        create_story(title="", slug="x", chapters=[])
    with pytest.raises(InvalidStory):
        create_story(title="X", slug="bad slug")
    with pytest.raises(InvalidStory):
        create_story(
            title="X",
            slug="x2",
            chapters=[{"number": 1, "title": "One", "choices": [one(to=9)]}],
        )
    with pytest.raises(InvalidStory):
        create_story(
            title="X",
            slug="x3",
            published=True,
            chapters=[
                {"number": 1, "title": "One", "choices": [one(to=2)]},
                {"number": 2, "title": "Two"},
            ],
        )
    assert not Chapter.objects.filter(story__slug__in=["x", "x2", "x3"]).exists()


def test_layout_puts_every_choice_pointing_right(story):
    shape = graph.load(story.pk)
    placed = graph.layout(shape)
    for edge in shape.choices:
        if edge.next_chapter_id:
            assert placed[edge.next_chapter_id].column > placed[edge.chapter_id].column
    first = Chapter.objects.get(story=story, number=1)
    assert placed[first.pk].column == 0
    assert Choice.objects.filter(chapter__story=story).count() == len(shape.choices)

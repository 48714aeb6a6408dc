"""The narrative integrity checks find each kind of disagreement, and rebuilding from the
decisions repairs what can be repaired."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from integrity.registry import all_checks
from integrity.runner import run_checks
from narrative.actions import make_choice, rebuild_member_state, rebuild_story, start_story
from narrative.models import Chapter, ChoiceImpact, Progress, Relationship
from tests.helpers import sql

pytestmark = pytest.mark.django_db

NARRATIVE = [c.name for c in all_checks() if c.name.startswith("narrative.")]


def findings() -> dict[str, int]:
    report = run_checks(NARRATIVE)
    assert all(r.status != "error" for r in report.checks), report.checks
    return {r.name: r.violations for r in report.checks if r.violations}


@pytest.fixture
def midway(story, reader, choice):
    """The reader is in chapter 4 (rowed out, saved the sailor)."""
    start_story(reader, story)
    make_choice(reader, choice("Row out to the wreck"))
    make_choice(reader, choice("Save the sailor"))
    return reader


def test_the_checks_are_registered_and_clean_after_play(midway):
    assert NARRATIVE == [
        "narrative.configuration_history_current",
        "narrative.no_locked_chapter_started",
        "narrative.progress_matches_decisions",
        "narrative.relationships_match_decisions",
        "narrative.rewards_paid_once",
    ]
    assert findings() == {}


def test_corrupted_relationships_are_found_then_rebuilt_clean(midway, story):
    sql("UPDATE narrative_relationship SET level = level + 7 WHERE member_id = %s", [midway.pk])
    sql(
        "DELETE FROM narrative_relationship WHERE member_id = %s AND character_id IN"
        " (SELECT id FROM narrative_character WHERE name = 'Theo')",
        [midway.pk],
    )
    assert findings() == {"narrative.relationships_match_decisions": 2}

    rebuilt = rebuild_member_state(midway)

    assert rebuilt.relationships_fixed == 2
    assert findings() == {}
    assert dict(
        Relationship.objects.filter(member=midway).values_list("character__name", "level")
    ) == {"Mira": 10, "Theo": 15}
    assert not rebuild_member_state(midway).changed  # nothing left to fix


def test_corrupted_progress_is_found_then_rebuilt_clean(midway, story):
    fourth = Chapter.objects.get(story=story, number=4)
    third = Chapter.objects.get(story=story, number=3)
    sql(
        "DELETE FROM narrative_progress WHERE member_id = %s AND chapter_id = %s",
        [midway.pk, fourth.pk],
    )
    # A chapter the reader never reached, marked as theirs:
    sql(
        "INSERT INTO narrative_progress (member_id, story_id, chapter_id, status, started_at,"
        " completed_at) VALUES (%s, %s, %s, 'started', %s, NULL)",
        [
            midway.pk,
            story.pk,
            third.pk,
            connection.ops.adapt_datetimefield_value(fourth.story.created_at),
        ],
    )
    found = findings()
    # Chapter 3 was never reached; chapter 4, where the last decision led, is missing.
    assert found == {
        "narrative.no_locked_chapter_started": 1,
        "narrative.progress_matches_decisions": 1,
    }

    rebuild_member_state(midway, story=story)

    assert findings() == {}
    assert list(
        Progress.objects.filter(member=midway)
        .order_by("chapter__number")
        .values_list("chapter__number", "status")
    ) == [(1, "completed"), (2, "completed"), (4, "started")]


def test_a_completed_chapter_without_its_decision_is_found(midway, story):
    third = Chapter.objects.get(story=story, number=3)
    sql(
        "INSERT INTO narrative_progress (member_id, story_id, chapter_id, status, started_at,"
        " completed_at) VALUES (%s, %s, %s, 'completed', %s, %s)",
        [
            midway.pk,
            story.pk,
            third.pk,
            *[connection.ops.adapt_datetimefield_value(story.created_at)] * 2,
        ],
    )
    found = findings()
    assert found["narrative.progress_matches_decisions"] == 1
    assert found["narrative.no_locked_chapter_started"] == 1
    rebuild_member_state(midway)
    assert findings() == {}


def test_a_missing_or_extra_reward_transfer_is_found(midway, story, reader):
    from ledger.actions import award
    from ledger.plans import SystemKey

    award(reader, 5, reason="stray", idempotency_key=SystemKey(f"narrative:{reader.pk}:999"))
    assert findings() == {"narrative.rewards_paid_once": 1}


def test_editing_impacts_then_rebuilding_the_story_recomputes_every_player(midway, story, choice):
    impact = ChoiceImpact.objects.get(choice=choice("Save the sailor"))
    ChoiceImpact.objects.filter(pk=impact.pk).update(delta=25)
    assert findings() == {"narrative.relationships_match_decisions": 1}

    total = rebuild_story(story)

    assert total.relationships_fixed == 1
    assert findings() == {}
    assert Relationship.objects.get(member=midway, character__name="Theo").level == 25


def test_rebuild_command_repairs_and_reports(midway, capsys):
    sql("UPDATE narrative_relationship SET level = 0 WHERE member_id = %s", [midway.pk])
    call_command("rebuild_story_state", "--member", str(midway.pk))
    out = capsys.readouterr().out
    assert "2 relationships" in out
    assert findings() == {}


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "name members with --member ID, or give --all"),
        (["--member", "999999"], "no member 999999"),
        (["--story", "nope", "--all"], "no story with slug 'nope'"),
        (["--member", "1", "--all"], "not both"),
        (["--member", "abc"], "invalid int value"),
    ],
)
def test_rebuild_command_refuses_bad_arguments_in_one_line(argv, says):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=says):
        call_command("rebuild_story_state", *argv)


def test_a_lost_current_chapter_is_found_start_story_says_so_and_rebuild_restores_it(midway, story):
    from narrative.exceptions import NotCurrentChapter

    sql(
        "DELETE FROM narrative_progress WHERE member_id = %s AND status = 'started'",
        [midway.pk],
    )
    assert findings() == {"narrative.progress_matches_decisions": 1}
    with pytest.raises(NotCurrentChapter, match="rebuild_member_state"):
        start_story(midway, story)

    assert rebuild_member_state(midway).progress_fixed == 1
    assert findings() == {}
    assert start_story(midway, story).chapter.number == 4


def test_rebuild_counts_each_fixed_chapter_once(midway, story):
    sql(
        "UPDATE narrative_progress SET completed_at = started_at WHERE member_id = %s"
        " AND chapter_id = (SELECT id FROM narrative_chapter WHERE story_id = %s"
        " AND number = 1)",
        [midway.pk, story.pk],
    )
    assert rebuild_member_state(midway).progress_fixed == 1

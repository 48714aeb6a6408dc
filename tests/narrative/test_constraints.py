"""Every narrative rule the database holds, proven by raw SQL that bypasses the ORM and
the actions. CHECK and unique constraints hold on SQLite too; the triggers (rules that
span rows) are PostgreSQL's."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from narrative.actions import make_choice, start_story
from narrative.models import Chapter, Character, Choice, Decision, Progress, Relationship
from tests.helpers import refused, sql

pytestmark = pytest.mark.django_db


def now():
    return connection.ops.adapt_datetimefield_value(timezone.now())


@pytest.fixture
def played(story, reader, choice):
    """The reader has decided chapter 1 (to chapter 2)."""
    start_story(reader, story)
    decision = make_choice(reader, choice("Row out to the wreck"))
    return decision


# --- decisions ----------------------------------------------------------------------


def test_a_second_decision_for_the_same_chapter_is_refused(played, choice):
    other = choice("Keep the lamp burning")
    refused(
        "INSERT INTO narrative_decision (member_id, story_id, chapter_id, choice_id, reward,"
        " reward_transfer_id, created_at) VALUES (%s, %s, %s, %s, 0, NULL, %s)",
        [played.member_id, played.story_id, played.chapter_id, other.pk, now()],
        constraint="narrative_decision_once_per_chapter",
        unique=True,
    )


def test_a_rewarded_decision_needs_its_transfer_and_an_unrewarded_one_has_none(
    story, reader, choice
):
    save = choice("Save the sailor")
    base = (
        "INSERT INTO narrative_decision (member_id, story_id, chapter_id, choice_id, reward,"
        " reward_transfer_id, created_at) VALUES (%s, %s, %s, %s, %s, NULL, %s)"
    )
    refused(
        base,
        [reader.pk, story.pk, save.chapter_id, save.pk, 20, now()],
        constraint="narrative_decision_reward_paid",
    )
    refused(
        base,
        [reader.pk, story.pk, save.chapter_id, save.pk, -1, now()],
        constraint="narrative_decision_reward_paid",
    )


@pytest.mark.postgres
def test_decisions_are_never_changed_or_deleted(played, choice):
    refused(
        "UPDATE narrative_decision SET choice_id = %s WHERE id = %s",
        [choice("Keep the lamp burning").pk, played.pk],
        says="decisions are recorded once",  # narrative_decision_append_only,
    )
    refused(
        "DELETE FROM narrative_decision WHERE id = %s",
        [played.pk],
        says="decisions are recorded once",  # narrative_decision_append_only,
    )


@pytest.mark.postgres
def test_a_decisions_choice_belongs_to_its_chapter_and_story(story, reader, choice):
    save, lamp = choice("Save the sailor"), choice("Keep the lamp burning")
    refused(
        "INSERT INTO narrative_decision (member_id, story_id, chapter_id, choice_id, reward,"
        " reward_transfer_id, created_at) VALUES (%s, %s, %s, %s, 0, NULL, %s)",
        [reader.pk, story.pk, save.chapter_id, lamp.pk, now()],
        says="is not in chapter",  # narrative_decision_choice_in_chapter,
    )


# --- progress -----------------------------------------------------------------------


def test_one_current_chapter_per_member_and_story(played, story):
    third = Chapter.objects.get(story=story, number=3)
    refused(
        "INSERT INTO narrative_progress (member_id, story_id, chapter_id, status, started_at,"
        " completed_at) VALUES (%s, %s, %s, 'started', %s, NULL)",
        [played.member_id, story.pk, third.pk, now()],
        constraint="narrative_progress_one_current",
        unique=True,
    )


def test_a_chapter_is_in_a_members_progress_once(played, story):
    refused(
        "INSERT INTO narrative_progress (member_id, story_id, chapter_id, status, started_at,"
        " completed_at) VALUES (%s, %s, %s, 'completed', %s, %s)",
        [played.member_id, story.pk, played.chapter_id, now(), now()],
        constraint="narrative_progress_once_per_chapter",
        unique=True,
    )


def test_progress_status_and_completion_time_agree(played):
    current = Progress.objects.get(member_id=played.member_id, status="started")
    refused(
        "UPDATE narrative_progress SET completed_at = %s WHERE id = %s",
        [now(), current.pk],
        constraint="narrative_progress_status_valid",
    )
    refused(
        "UPDATE narrative_progress SET status = 'completed' WHERE id = %s",
        [current.pk],
        constraint="narrative_progress_status_valid",
    )
    refused(
        "UPDATE narrative_progress SET status = 'lost' WHERE id = %s",
        [current.pk],
        constraint="narrative_progress_status_valid",
    )


@pytest.mark.postgres
def test_progress_names_its_chapters_story(played, story, reader):
    from narrative.actions import create_story

    other = create_story(
        title="Other",
        slug="other",
        chapters=[{"number": 1, "title": "One", "choices": [{"text": "End", "ending": "E"}]}],
    )
    refused(
        "UPDATE narrative_progress SET story_id = %s WHERE member_id = %s AND status = 'started'",
        [other.pk, reader.pk],
        says="is not in story",  # narrative_progress_story_matches,
    )


# --- relationships ------------------------------------------------------------------


def test_relationship_levels_stay_in_range(played):
    row = Relationship.objects.get(member_id=played.member_id)
    for level in (101, -101):
        refused(
            "UPDATE narrative_relationship SET level = %s WHERE id = %s",
            [level, row.pk],
            constraint="narrative_relationship_level_in_range",
        )


def test_one_relationship_per_member_and_character(played):
    row = Relationship.objects.get(member_id=played.member_id)
    refused(
        "INSERT INTO narrative_relationship (member_id, character_id, level, updated_at)"
        " VALUES (%s, %s, 0, %s)",
        [row.member_id, row.character_id, now()],
        constraint="narrative_relationship_once_per_character",
        unique=True,
    )


# --- the story itself -----------------------------------------------------------------


def test_a_choice_leads_to_a_chapter_or_an_ending_never_both_or_neither(story, choice):
    row_out = choice("Row out to the wreck")
    refused(
        "UPDATE narrative_choice SET next_chapter_id = NULL WHERE id = %s",
        [row_out.pk],
        constraint="narrative_choice_leads_somewhere",
    )
    refused(
        "UPDATE narrative_choice SET ending = 'Also an ending' WHERE id = %s",
        [row_out.pk],
        constraint="narrative_choice_leads_somewhere",
    )
    refused(
        "UPDATE narrative_choice SET next_chapter_id = chapter_id WHERE id = %s",
        [row_out.pk],
        constraint="narrative_choice_not_to_itself",
    )
    refused(
        "UPDATE narrative_choice SET reward = -5 WHERE id = %s",
        [row_out.pk],
        constraint="narrative_choice_reward_in_range",
    )
    refused(
        "UPDATE narrative_choice SET text = '' WHERE id = %s",
        [row_out.pk],
        constraint="narrative_choice_text_not_blank",
    )


@pytest.mark.postgres
def test_choices_and_impacts_stay_inside_their_story(story, choice):
    from narrative.actions import create_story

    other = create_story(
        title="Other",
        slug="other",
        characters=["Stranger"],
        chapters=[{"number": 1, "title": "One", "choices": [{"text": "End", "ending": "E"}]}],
    )
    elsewhere = Chapter.objects.get(story=other)
    refused(
        "UPDATE narrative_choice SET next_chapter_id = %s WHERE id = %s",
        [elsewhere.pk, choice("Row out to the wreck").pk],
        says="leads to a chapter of another story",  # narrative_choice_same_story,
    )
    refused(
        "INSERT INTO narrative_choiceimpact (choice_id, character_id, delta) VALUES (%s, %s, 5)",
        [choice("Save the sailor").pk, Character.objects.get(story=other).pk],
        says="not a character of its story",  # narrative_choiceimpact_same_story,
    )


def test_impacts_are_non_zero_bounded_and_once_per_character(story, choice):
    impact = choice("Row out to the wreck").impacts.get()
    for delta in (0, 201, -201):
        refused(
            "UPDATE narrative_choiceimpact SET delta = %s WHERE id = %s",
            [delta, impact.pk],
            constraint="narrative_choiceimpact_delta_in_range",
        )
    refused(
        "INSERT INTO narrative_choiceimpact (choice_id, character_id, delta) VALUES (%s, %s, 3)",
        [impact.choice_id, impact.character_id],
        constraint="narrative_choiceimpact_once_per_character",
        unique=True,
    )


def test_chapters_are_numbered_once_from_one_with_complete_unlock_rules(story):
    second = Chapter.objects.get(story=story, number=2)
    refused(
        "UPDATE narrative_chapter SET number = 1 WHERE id = %s",
        [second.pk],
        constraint="narrative_chapter_number_unique",
        unique=True,
    )
    refused(
        "UPDATE narrative_chapter SET number = 0 WHERE id = %s",
        [second.pk],
        constraint="narrative_chapter_number_positive",
    )
    refused(
        "UPDATE narrative_chapter SET unlock_rule = 'min_balance' WHERE id = %s",
        [second.pk],
        constraint="narrative_chapter_unlock_rule_complete",
    )
    refused(
        "UPDATE narrative_chapter SET unlock_rule = 'whenever' WHERE id = %s",
        [second.pk],
        constraint="narrative_chapter_unlock_rule_complete",
    )
    fourth = Chapter.objects.get(story=story, number=4)  # min balance 50 points
    refused(
        "UPDATE narrative_chapter SET unlock_amount = 0 WHERE id = %s",
        [fourth.pk],
        constraint="narrative_chapter_unlock_rule_complete",
    )
    refused(
        "UPDATE narrative_chapter SET title = '' WHERE id = %s",
        [second.pk],
        constraint="narrative_chapter_title_not_blank",
    )


def test_stories_and_characters_are_named(story):
    refused(
        "UPDATE narrative_story SET title = '' WHERE id = %s",
        [story.pk],
        constraint="narrative_story_title_not_blank",
    )
    refused(
        "UPDATE narrative_story SET slug = '' WHERE id = %s",
        [story.pk],
        constraint="narrative_story_slug_not_blank",
    )
    mira = Character.objects.get(story=story, name="Mira")
    refused(
        "UPDATE narrative_character SET name = 'Theo' WHERE id = %s",
        [mira.pk],
        constraint="narrative_character_name_unique",
        unique=True,
    )
    refused(
        "UPDATE narrative_character SET name = '' WHERE id = %s",
        [mira.pk],
        constraint="narrative_character_name_not_blank",
    )


def test_played_chapters_and_choices_cannot_be_deleted(played):
    from django.db.models import ProtectedError, RestrictedError

    with pytest.raises((ProtectedError, RestrictedError)):
        Choice.objects.get(pk=played.choice_id).delete()
    assert Decision.objects.filter(pk=played.pk).exists()


@pytest.mark.postgres
def test_where_a_made_choice_leads_is_fixed(played, story, choice):
    refused(
        "UPDATE narrative_choice SET next_chapter_id = %s WHERE id = %s",
        [Chapter.objects.get(story=story, number=3).pk, played.choice_id],
        says="members made it",  # narrative_choice_path_fixed_once_made
    )
    # An unmade choice may still be pointed elsewhere; a made one keeps its text editable.
    sql(
        "UPDATE narrative_choice SET next_chapter_id = %s WHERE id = %s",
        [Chapter.objects.get(story=story, number=4).pk, choice("Keep the lamp burning").pk],
    )
    sql("UPDATE narrative_choice SET text = 'Row, row' WHERE id = %s", [played.choice_id])


def test_character_names_have_no_commas(story):
    refused(
        "UPDATE narrative_character SET name = 'Smith, John' WHERE story_id = %s AND name = 'Mira'",
        [story.pk],
        constraint="narrative_character_name_no_comma",
    )

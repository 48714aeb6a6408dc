"""make_choice, start_story and their refusals: one decision per chapter, progress and
relationships moving with it, the reward paid once, nothing written on a refusal."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.actions import cancel_subscription, start_subscription
from events.models import Event
from ledger.actions import award, spend
from ledger.exceptions import InvalidRequest as LedgerInvalidRequest
from ledger.models import Account, Transfer
from narrative.actions import make_choice, reward_key, start_story
from narrative.exceptions import (
    ChapterAlreadyDecided,
    ChapterLocked,
    InvalidRequest,
    NarrativeError,
    NotCurrentChapter,
    NotStarted,
    StoryNotPublished,
)
from narrative.models import Choice, Decision, Progress, Relationship, Story
from tests.factories import MemberFactory
from tests.helpers import table_contents

pytestmark = pytest.mark.django_db


def points(member) -> int:
    return Account.objects.get(member=member, currency__code="points").balance


def levels(member) -> dict[str, int]:
    return dict(Relationship.objects.filter(member=member).values_list("character__name", "level"))


def where(member, story) -> list[tuple[int, str]]:
    return list(
        Progress.objects.filter(member=member, story=story)
        .order_by("chapter__number")
        .values_list("chapter__number", "status")
    )


def test_start_story_puts_the_member_at_chapter_one_once(story, reader):
    progress = start_story(reader, story)
    again = start_story(reader, story)

    assert progress.created
    assert not again.created
    assert again.pk == progress.pk
    assert where(reader, story) == [(1, "started")]
    assert Event.objects.filter(kind="narrative.story_started").count() == 1


def test_an_unpublished_story_cannot_be_started(story, reader):
    Story.objects.filter(pk=story.pk).update(published=False)
    with pytest.raises(StoryNotPublished):
        start_story(reader, story)
    assert not Progress.objects.exists()


def test_make_choice_records_moves_pays_and_changes_feelings_in_one_go(
    story, reader, choice, django_capture_on_commit_callbacks
):
    start_story(reader, story)
    row_out = choice("Row out to the wreck")

    with django_capture_on_commit_callbacks(execute=True):
        decision = make_choice(reader, row_out)

    assert decision.created
    assert (decision.chapter_id, decision.choice_id, decision.reward) == (
        row_out.chapter_id,
        row_out.pk,
        10,
    )
    assert where(reader, story) == [(1, "completed"), (2, "started")]
    assert levels(reader) == {"Mira": 10}
    assert points(reader) == 110
    paid = Transfer.objects.get(idempotency_key=reward_key(reader.pk, row_out.chapter_id))
    assert decision.reward_transfer_id == paid.pk
    made = Event.objects.get(kind="narrative.decision_made")
    assert made.data["decision_id"] == decision.pk
    assert made.data["next_chapter_id"] == row_out.next_chapter_id
    assert made.data["levels"] == {str(row_out.impacts.get().character_id): 10}
    assert made.subject == f"story:{story.pk}"
    assert decision.event.seq == made.seq


def test_the_same_choice_again_returns_the_decision_and_pays_nothing_more(story, reader, choice):
    start_story(reader, story)
    first = make_choice(reader, choice("Row out to the wreck"))
    before = table_contents("narrative", "ledger", "events")

    again = make_choice(reader, choice("Row out to the wreck"))

    assert not again.created
    assert again.pk == first.pk
    assert table_contents("narrative", "ledger", "events") == before


def test_another_choice_in_a_decided_chapter_is_refused(story, reader, choice):
    start_story(reader, story)
    first = make_choice(reader, choice("Row out to the wreck"))
    before = table_contents("narrative", "ledger", "events")

    with pytest.raises(ChapterAlreadyDecided) as refused:
        make_choice(reader, choice("Keep the lamp burning"))

    assert refused.value.decision.pk == first.pk
    assert table_contents("narrative", "ledger", "events") == before


def test_a_choice_before_starting_or_off_the_path_is_refused(story, reader, choice):
    with pytest.raises(NotStarted):
        make_choice(reader, choice("Row out to the wreck"))
    start_story(reader, story)
    before = table_contents("narrative", "ledger", "events")
    with pytest.raises(NotCurrentChapter):
        make_choice(reader, choice("Save the sailor"))  # chapter 2: not reached
    make_choice(reader, choice("Keep the lamp burning"))  # to chapter 3
    with pytest.raises(NotCurrentChapter):
        make_choice(reader, choice("Take the cargo"))  # chapter 2: the other branch
    assert Decision.objects.count() == 1
    assert before["narrative_relationship"] == []


def test_a_minimum_balance_chapter_cannot_be_entered_without_the_balance(story, reader, choice):
    start_story(reader, story)
    make_choice(reader, choice("Keep the lamp burning"))  # 105 points, in chapter 3
    spend(reader, 70, sink="reading", reason="A reading", idempotency_key="r1")  # 35 left
    before = table_contents("narrative", "ledger", "events")

    with pytest.raises(ChapterLocked) as locked:
        make_choice(reader, choice("Climb to the lamp room"))  # to chapter 4: 50 points

    assert locked.value.rule == "min_balance"
    assert "chapter 4" in str(locked.value)
    assert "at least 50 points" in str(locked.value)
    assert table_contents("narrative", "ledger", "events") == before
    assert where(reader, story) == [(1, "completed"), (3, "started")]  # still choosing
    award(reader, 15, reason="quiz", idempotency_key="q1")  # 50 now
    assert make_choice(reader, choice("Climb to the lamp room")).created
    assert where(reader, story)[-1] == (4, "started")


def test_a_vip_chapter_is_closed_to_others_and_opens_for_a_vip(story, reader, choice):
    start_story(reader, story)
    make_choice(reader, choice("Keep the lamp burning"))
    make_choice(reader, choice("Signal the harbour"))  # chapter 5

    with pytest.raises(ChapterLocked) as locked:
        make_choice(reader, choice("Say nothing"))  # to chapter 6, VIP only
    assert locked.value.rule == "vip"
    # Another way on is open to them: the story never strands a member in a chapter.
    assert make_choice(reader, choice("Confess everything")).created

    vip = MemberFactory()  # VIP: premium now, as accounts defines it (one rule)
    start_subscription(vip, tier="professional")
    start_story(vip, story)
    make_choice(vip, choice("Keep the lamp burning"))
    make_choice(vip, choice("Signal the harbour"))
    make_choice(vip, choice("Say nothing"))
    assert make_choice(vip, choice("Open the door")).created
    assert where(vip, story)[-1] == (6, "ended")


def test_a_subscription_chapter_needs_an_active_premium_subscription(story, reader, choice):
    from narrative.models import Chapter

    Chapter.objects.filter(story=story, number=3).update(unlock_rule="subscription")
    start_story(reader, story)

    with pytest.raises(ChapterLocked) as locked:
        make_choice(reader, choice("Keep the lamp burning"))  # to chapter 3
    assert locked.value.rule == "subscription"
    assert "premium subscription" in str(locked.value)

    start_subscription(reader, tier="basic")
    with pytest.raises(ChapterLocked):
        make_choice(reader, choice("Keep the lamp burning"))
    cancel_subscription(reader.subscriptions.get(status="active"))
    start_subscription(reader, tier="premium")
    assert make_choice(reader, choice("Keep the lamp burning")).created


def test_a_locked_first_chapter_keeps_the_member_out_of_the_story(story, reader):
    from narrative.models import Chapter

    Chapter.objects.filter(story=story, number=1).update(vip_only=True)
    with pytest.raises(ChapterLocked) as locked:
        start_story(reader, story)
    assert locked.value.rule == "vip"
    assert not Progress.objects.exists()


def test_an_ending_marks_the_chapter_ended_and_starts_nothing(story, reader, choice):
    start_story(reader, story)
    make_choice(reader, choice("Row out to the wreck"))
    make_choice(reader, choice("Take the cargo"))
    decision = make_choice(reader, choice("Confess everything"))

    assert where(reader, story) == [(1, "completed"), (2, "completed"), (5, "ended")]
    assert decision.reward == 15
    assert levels(reader) == {"Mira": 15, "Theo": -10, "Harbour Master": 5}
    assert points(reader) == 100 + 10 + 30 + 15
    assert start_story(reader, story).chapter.number == 5  # where it ended


def test_a_choice_without_reward_pays_nothing(story, reader, choice):
    start_story(reader, story)
    make_choice(reader, choice("Keep the lamp burning"))
    decision = make_choice(reader, choice("Signal the harbour"))
    assert decision.reward == 0
    assert decision.reward_transfer_id is None
    assert not Transfer.objects.filter(
        idempotency_key=reward_key(reader.pk, decision.chapter_id)
    ).exists()


def test_a_refused_choice_inside_a_callers_transaction_leaves_that_transaction_usable(
    story, reader, choice
):
    start_story(reader, story)
    with transaction.atomic():
        with pytest.raises(NotCurrentChapter):
            make_choice(reader, choice("Save the sailor"))
        decision = make_choice(reader, choice("Row out to the wreck"))
    assert Decision.objects.get().pk == decision.pk


def test_bots_cannot_use_the_reward_keys(reader):
    with pytest.raises(LedgerInvalidRequest, match="are Concord's own"):
        award(reader, 5, reason="x", idempotency_key="narrative:1:2")
    assert not Transfer.objects.filter(idempotency_key="narrative:1:2").exists()


@pytest.mark.parametrize("bad", [None, "7", 3.0, object()])
def test_malformed_arguments_raise_the_apps_error(story, reader, bad):
    with pytest.raises(InvalidRequest):
        make_choice(reader, bad)
    with pytest.raises(InvalidRequest):
        make_choice(bad, 1)
    with pytest.raises(InvalidRequest):
        start_story(reader, bad)
    assert issubclass(InvalidRequest, NarrativeError)


def test_unknown_choice_and_member_are_named(story, reader, choice):
    with pytest.raises(InvalidRequest, match="no choice 999999"):
        make_choice(reader, 999999)
    start_story(reader, story)
    with pytest.raises(InvalidRequest, match="no member"):
        make_choice(987654, choice("Row out to the wreck"))


def test_a_choice_that_would_push_a_level_past_its_bounds_writes_nothing(reader):
    from narrative.actions import create_story
    from narrative.exceptions import RelationshipOutOfRange

    heated = create_story(
        title="Heated",
        slug="heated",
        characters=["Rival"],
        chapters=[
            {
                "number": 1,
                "title": "Start",
                "choices": [{"text": "Insult", "to": 2, "reward": 5, "impacts": {"Rival": -60}}],
            },
            {
                "number": 2,
                "title": "Again",
                "choices": [
                    {
                        "text": "Insult more",
                        "ending": "Feud",
                        "reward": 5,
                        "impacts": {"Rival": -50},
                    }
                ],
            },
        ],
    )
    Story.objects.filter(pk=heated.pk).update(published=True)  # past publish_story's check
    start_story(reader, heated)
    make_choice(reader, Choice.objects.get(text="Insult"))
    before = table_contents("narrative", "ledger", "events")

    with pytest.raises(RelationshipOutOfRange):
        make_choice(reader, Choice.objects.get(text="Insult more"))

    assert table_contents("narrative", "ledger", "events") == before

"""Narrative: branching stories whose progress, relationships and rewards always agree.

A `Story` is a graph: `Chapter`s numbered from 1 (the entry), each with `Choice`s that lead
to another chapter of the story or end it, and change how its `Character`s feel about the
member (`ChoiceImpact`). What a member did is recorded once as a `Decision` (one per member
and chapter); `Progress` (where they are) and `Relationship` (how characters feel) are
cached values the decisions imply, written in the same transaction as the decision
(`narrative.actions.make_choice`) and rebuilt from the decisions on demand
(`rebuild_member_state`).

The database holds: one decision per member and chapter, a decision's choice belongs to
its chapter, decisions are never changed or deleted, a reward is paid iff the decision
carries one, one current chapter per member and story, relationship levels within
[LEVEL_MIN, LEVEL_MAX], and (PostgreSQL triggers) that chapters, choices, characters and
progress rows of one story only ever point inside that story.
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import F, Q

from accounts.models import Member
from config.history import track
from events.sql import refuse as _refuse
from ledger.models import Currency, Transfer
from ledger.plans import MAX_AMOUNT

LEVEL_MIN, LEVEL_MAX = -100, 100


@track(exclude=["created_at"])
class Story(models.Model):
    title = models.CharField(max_length=150)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    published = models.BooleanField(
        default=False, help_text="Members can start and play only published stories."
    )
    currency = models.ForeignKey(
        Currency,
        on_delete=models.PROTECT,
        related_name="stories",
        help_text="Choice rewards are paid in this currency.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [
            ("rebuild_state", "Can rebuild members' story state from their decisions"),
        ]
        verbose_name_plural = "stories"
        constraints = [
            models.CheckConstraint(condition=~Q(title=""), name="narrative_story_title_not_blank"),
            models.CheckConstraint(condition=~Q(slug=""), name="narrative_story_slug_not_blank"),
        ]

    def __str__(self) -> str:
        return self.title


class UnlockRule(models.TextChoices):
    # Every chapter but the first is entered through a choice made in the chapter before
    # it on the member's path; these say what else it takes to play it.
    PREVIOUS = "previous", "Previous chapter completed"
    MIN_BALANCE = "min_balance", "A minimum balance"
    SUBSCRIPTION = "subscription", "A premium subscription"


@track()
class Chapter(models.Model):
    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="chapters")
    number = models.PositiveIntegerField(help_text="Chapter 1 is where the story starts.")
    title = models.CharField(max_length=150)
    content = models.TextField(blank=True)
    vip_only = models.BooleanField(default=False, help_text="Only VIP (premium) members.")
    unlock_rule = models.CharField(
        max_length=16, choices=UnlockRule.choices, default=UnlockRule.PREVIOUS
    )
    unlock_currency = models.ForeignKey(
        Currency,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For a minimum balance: in this currency.",
    )
    unlock_amount = models.BigIntegerField(
        null=True, blank=True, help_text="For a minimum balance: at least this much."
    )

    class Meta:
        ordering = ["story", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["story", "number"], name="narrative_chapter_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(number__gte=1), name="narrative_chapter_number_positive"
            ),
            models.CheckConstraint(
                condition=~Q(title=""), name="narrative_chapter_title_not_blank"
            ),
            # Also: the rule is one of the three.
            models.CheckConstraint(
                condition=Q(
                    unlock_rule=UnlockRule.MIN_BALANCE,
                    unlock_currency__isnull=False,
                    unlock_amount__gte=1,
                )
                | Q(
                    unlock_rule__in=(UnlockRule.PREVIOUS, UnlockRule.SUBSCRIPTION),
                    unlock_currency__isnull=True,
                    unlock_amount__isnull=True,
                ),
                name="narrative_chapter_unlock_rule_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.title}"


class Character(models.Model):
    story = models.ForeignKey(Story, on_delete=models.CASCADE, related_name="characters")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["story", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["story", "name"], name="narrative_character_name_unique"
            ),
            models.CheckConstraint(
                condition=~Q(name=""), name="narrative_character_name_not_blank"
            ),
            # Impacts are typed as "Mira +5, Theo -3" in the admin.
            models.CheckConstraint(
                condition=~Q(name__contains=","),
                name="narrative_character_name_no_comma",
                violation_error_message="A character's name has no commas (impacts are"
                " typed as “Mira +5, Theo -3”).",
            ),
        ]

    def __str__(self) -> str:
        return self.name


@track()
class Choice(models.Model):
    chapter = models.ForeignKey(Chapter, on_delete=models.CASCADE, related_name="choices")
    position = models.PositiveSmallIntegerField(default=1, help_text="Order shown.")
    text = models.CharField(max_length=255)
    next_chapter = models.ForeignKey(
        Chapter,
        null=True,
        blank=True,
        # RESTRICT: deleting the whole story takes its choices along; deleting one chapter
        # a choice leads to is refused.
        on_delete=models.RESTRICT,
        related_name="arrivals",
        help_text="Where the choice leads; empty if it ends the story.",
    )
    ending = models.CharField(
        max_length=150, blank=True, help_text="The ending's title, if the choice ends the story."
    )
    reward = models.BigIntegerField(default=0, help_text="Paid once, in the story's currency.")

    class Meta:
        ordering = ["chapter", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="narrative_choice_text_not_blank"),
            models.CheckConstraint(
                condition=Q(next_chapter__isnull=False, ending="")
                | (Q(next_chapter__isnull=True) & ~Q(ending="")),
                name="narrative_choice_leads_somewhere",
            ),
            models.CheckConstraint(
                condition=Q(next_chapter__isnull=True) | ~Q(next_chapter=F("chapter")),
                name="narrative_choice_not_to_itself",
            ),
            models.CheckConstraint(
                condition=Q(reward__gte=0, reward__lte=MAX_AMOUNT),
                name="narrative_choice_reward_in_range",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="narrative_choice_same_story",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("chapter_id", "next_chapter_id"),
                func=f"""
                IF NEW.next_chapter_id IS NOT NULL AND
                   (SELECT story_id FROM narrative_chapter WHERE id = NEW.chapter_id)
                   IS DISTINCT FROM
                   (SELECT story_id FROM narrative_chapter WHERE id = NEW.next_chapter_id) THEN
                    {_refuse("choice %: it leads to a chapter of another story", "NEW.id")}
                END IF;
                RETURN NEW;
                """,
            ),
            # Where a choice members made leads is history: their progress followed it.
            # (Its text, reward and impacts may change; impacts are then rebuilt.)
            pgtrigger.Trigger(
                name="narrative_choice_path_fixed_once_made",
                when=pgtrigger.Before,
                operation=pgtrigger.UpdateOf("chapter_id", "next_chapter_id"),
                condition=pgtrigger.Q(old__chapter_id__df=pgtrigger.F("new__chapter_id"))
                | pgtrigger.Q(old__next_chapter_id__df=pgtrigger.F("new__next_chapter_id")),
                func=f"""
                IF EXISTS (SELECT 1 FROM narrative_decision WHERE choice_id = OLD.id) THEN
                    {
                    _refuse(
                        "choice %: members made it, so where it is and leads stay as they are",
                        "OLD.id",
                    )
                }
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def ends_story(self) -> bool:
        return self.next_chapter_id is None


class ChoiceImpact(models.Model):
    choice = models.ForeignKey(Choice, on_delete=models.CASCADE, related_name="impacts")
    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="impacts")
    delta = models.IntegerField(help_text=f"Change of the level ({LEVEL_MIN}..{LEVEL_MAX}).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["choice", "character"], name="narrative_choiceimpact_once_per_character"
            ),
            models.CheckConstraint(
                condition=~Q(delta=0)
                & Q(delta__gte=LEVEL_MIN - LEVEL_MAX)
                & Q(delta__lte=LEVEL_MAX - LEVEL_MIN),
                name="narrative_choiceimpact_delta_in_range",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="narrative_choiceimpact_same_story",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("choice_id", "character_id"),
                func=f"""
                IF (SELECT ch.story_id FROM narrative_choice c
                      JOIN narrative_chapter ch ON ch.id = c.chapter_id WHERE c.id = NEW.choice_id)
                   IS DISTINCT FROM
                   (SELECT story_id FROM narrative_character WHERE id = NEW.character_id) THEN
                    {
                    _refuse(
                        "impact of choice % on character %: not a character of its story",
                        "NEW.choice_id",
                        "NEW.character_id",
                    )
                }
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.character}: {self.delta:+d}"


class ProgressStatus(models.TextChoices):
    STARTED = "started", "Started"  # the member's current chapter in this story
    COMPLETED = "completed", "Completed"  # decided; the choice led on
    ENDED = "ended", "Ended the story"  # decided; the choice ended the story


DONE = (ProgressStatus.COMPLETED, ProgressStatus.ENDED)


class Progress(models.Model):
    # No index of their own: once_per_chapter (member, chapter) and story_idx (story,
    # status) lead with them, and every index is one more write per row.
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="story_progress", db_index=False
    )
    story = models.ForeignKey(
        Story, on_delete=models.PROTECT, related_name="progress", db_index=False
    )
    chapter = models.ForeignKey(Chapter, on_delete=models.PROTECT, related_name="progress")
    status = models.CharField(max_length=16, choices=ProgressStatus.choices)
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "progress"
        constraints = [
            models.UniqueConstraint(
                fields=["member", "chapter"], name="narrative_progress_once_per_chapter"
            ),
            # Also the lookup of a member's current chapter (queries.current_chapter).
            models.UniqueConstraint(
                fields=["member", "story"],
                condition=Q(status=ProgressStatus.STARTED),
                name="narrative_progress_one_current",
            ),
            models.CheckConstraint(
                condition=Q(status=ProgressStatus.STARTED, completed_at__isnull=True)
                | Q(status__in=DONE, completed_at__isnull=False),
                name="narrative_progress_status_valid",
            ),
        ]
        indexes = [
            # The story map's counts: who is in which chapter (queries.story_map).
            models.Index(fields=["story", "status"], name="narrative_progress_story_idx"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="narrative_progress_story_matches",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("story_id", "chapter_id"),
                func=f"""
                IF (SELECT story_id FROM narrative_chapter WHERE id = NEW.chapter_id)
                   IS DISTINCT FROM NEW.story_id THEN
                    {
                    _refuse(
                        "progress %: chapter % is not in story %",
                        "NEW.id",
                        "NEW.chapter_id",
                        "NEW.story_id",
                    )
                }
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"member {self.member_id} in chapter {self.chapter_id} ({self.status})"


class Decision(models.Model):
    """What a member chose in a chapter: recorded once, never changed."""

    # Covered by once_per_chapter (member, chapter) and story_idx (story, choice).
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    story = models.ForeignKey(
        Story, on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    chapter = models.ForeignKey(Chapter, on_delete=models.PROTECT, related_name="decisions")
    choice = models.ForeignKey(Choice, on_delete=models.PROTECT, related_name="decisions")
    reward = models.BigIntegerField(default=0, help_text="As the choice paid it.")
    reward_transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "chapter"], name="narrative_decision_once_per_chapter"
            ),
            models.CheckConstraint(
                condition=Q(reward=0, reward_transfer__isnull=True)
                | Q(reward__gt=0, reward_transfer__isnull=False),
                name="narrative_decision_reward_paid",
            ),
        ]
        indexes = [
            # The story map's counts (queries.choice_counts).
            models.Index(fields=["story", "choice"], name="narrative_decision_story_idx"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="narrative_decision_choice_in_chapter",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func=f"""
                IF NOT EXISTS (SELECT 1 FROM narrative_choice c
                                 JOIN narrative_chapter ch ON ch.id = c.chapter_id
                                WHERE c.id = NEW.choice_id AND c.chapter_id = NEW.chapter_id
                                  AND ch.story_id = NEW.story_id) THEN
                    {
                    _refuse(
                        "decision of member %: choice % is not in chapter % of story %",
                        "NEW.member_id",
                        "NEW.choice_id",
                        "NEW.chapter_id",
                        "NEW.story_id",
                    )
                }
                END IF;
                RETURN NEW;
                """,
            ),
            pgtrigger.Trigger(
                name="narrative_decision_append_only",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=f"""
                {_refuse("decisions are recorded once: % of decision % refused", "TG_OP", "OLD.id")}
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"member {self.member_id} chose {self.choice_id} in chapter {self.chapter_id}"


class Relationship(models.Model):
    """How a character feels about a member: the sum of the impacts of the member's
    decisions (a cached value, written with each decision)."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="relationships")
    character = models.ForeignKey(Character, on_delete=models.PROTECT, related_name="relationships")
    level = models.IntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["member", "character"], name="narrative_relationship_once_per_character"
            ),
            models.CheckConstraint(
                condition=Q(level__gte=LEVEL_MIN, level__lte=LEVEL_MAX),
                name="narrative_relationship_level_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.character} → member {self.member_id}: {self.level}"

"""Authoring: writing a story, checking it, publishing it, recording its edits."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

import events
from config.history import acting
from ledger.models import Currency
from narrative import graph, payloads
from narrative.actions.common import pk_of
from narrative.exceptions import InvalidRequest, InvalidStory
from narrative.models import Chapter, Character, Choice, ChoiceImpact, Story, UnlockRule

SLUG = re.compile(r"[-a-zA-Z0-9_]+\Z")


def check_story(story) -> list[str]:
    """What would stop a member playing `story` through (see `narrative.graph`)."""
    return graph.problems(graph.load(pk_of(story, "story")))


def record_story_change(story, *, actor=None) -> None:
    """Record an edit of `story`'s structure (the admin's saves) as `narrative.story_changed`,
    in the caller's transaction: open story maps redraw after it commits."""
    story_id = pk_of(story, "story")
    found = Story.objects.filter(pk=story_id).values_list("title", "published").first()
    if found is None:
        raise InvalidRequest(f"no story {story_id}")
    with transaction.atomic():
        events.publish(
            "narrative.story_changed",
            payloads.story_changed(story_id=story_id, title=found[0], published=found[1]),
            actor=actor,
            subject=f"story:{story_id}",
        )


@transaction.atomic
def publish_story(story, *, actor=None) -> Story:
    """Publish `story` if it is playable (`InvalidStory` lists what is not)."""
    locked = Story.objects.select_for_update().get(pk=pk_of(story, "story"))
    if locked.published:
        return locked
    found = check_story(locked)
    if found:
        raise InvalidStory(found)
    locked.published = True
    with acting(actor):  # the story's history names who (config.history)
        locked.save(update_fields=["published"])
    events.publish(
        "narrative.story_published",
        payloads.story_published(story_id=locked.pk, title=locked.title),
        actor=actor,
        subject=f"story:{locked.pk}",
    )
    return locked


# --- writing a story from a plain description -----------------------------------------


@transaction.atomic
def create_story(
    *,
    title: str,
    slug: str,
    currency: str = "points",
    description: str = "",
    characters=(),
    chapters=(),
    published: bool = False,
    actor=None,
) -> Story:
    """A whole story in one call (demo data, imports, tests, benchmarks).

    `characters` are names; each chapter is a dict: `number`, `title`, optional
    `content`, `vip_only`, `unlock` (`"subscription"` or `{"min_balance": amount,
    "currency": code}`) and `choices`, each a dict: `text`, `to` (a chapter number) or
    `ending` (its title), optional `reward` and `impacts` ({character name: delta}).
    With `published=True` the story must be playable (`InvalidStory` lists why not)."""
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise InvalidStory([f"a slug is letters, digits, - and _, not {slug!r}"])
    paid_in = Currency.objects.filter(code=currency).first()
    if paid_in is None:
        raise InvalidStory([f"no currency {currency!r}"])
    if Story.objects.filter(slug=slug).exists():
        raise InvalidStory([f"a story with slug {slug!r} exists"])
    with acting(actor):  # the story's history names who (config.history)
        try:
            story = Story.objects.create(
                title=title, slug=slug, description=description, currency=paid_in
            )
            cast = {
                name: Character.objects.create(story=story, name=name).pk for name in characters
            }
            numbered = {spec["number"]: _create_chapter(story, spec, currency) for spec in chapters}
            for spec in chapters:
                _create_choices(numbered[spec["number"]], spec.get("choices", ()), numbered, cast)
        except (IntegrityError, KeyError, TypeError) as error:
            raise InvalidStory([f"the story cannot be stored as given: {error}"]) from error
    if published:
        publish_story(story, actor=actor)
        story.refresh_from_db()
    return story


def _create_chapter(story: Story, spec: dict, currency: str) -> Chapter:
    """Chapter `spec` of `create_story`; an unlock's currency defaults to the story's."""
    unlock = spec.get("unlock")
    rule, unlock_currency, amount = UnlockRule.PREVIOUS, None, None
    if unlock == "subscription":
        rule = UnlockRule.SUBSCRIPTION
    elif isinstance(unlock, dict):
        rule, amount = UnlockRule.MIN_BALANCE, unlock.get("min_balance")
        unlock_currency = Currency.objects.filter(code=unlock.get("currency", currency)).first()
    return Chapter.objects.create(
        story=story,
        number=spec["number"],
        title=spec["title"],
        content=spec.get("content", ""),
        vip_only=spec.get("vip_only", False),
        unlock_rule=rule,
        unlock_currency=unlock_currency,
        unlock_amount=amount,
    )


def _create_choices(
    chapter: Chapter, options, numbered: dict[int, Chapter], cast: dict[str, int]
) -> None:
    """A chapter's choices (`create_story`'s `choices`), in the order given."""
    for position, option in enumerate(options, start=1):
        target = option.get("to")
        if target is not None and target not in numbered:
            raise InvalidStory([f"choice {option['text']!r} leads to no chapter {target}"])
        made = Choice.objects.create(
            chapter=chapter,
            position=position,
            text=option["text"],
            next_chapter=numbered.get(target) if target is not None else None,
            ending=option.get("ending", ""),
            reward=option.get("reward", 0),
        )
        for name, delta in option.get("impacts", {}).items():
            if name not in cast:
                raise InvalidStory([f"choice {option['text']!r} names no character {name!r}"])
            ChoiceImpact.objects.create(choice=made, character_id=cast[name], delta=delta)

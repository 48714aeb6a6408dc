"""Narrative fixtures: the demo story (branches, locked chapters, endings) and a member
who has started it; every test's writes pass the checks PostgreSQL defers to COMMIT."""

from __future__ import annotations

import pytest

from narrative.demo import load_demo_story
from narrative.models import Choice, Story
from tests.factories import MemberFactory
from tests.tournaments.helpers import checks_at_the_end

_deferred_checks_pass = pytest.fixture(autouse=True)(checks_at_the_end)


@pytest.fixture
def story(db) -> Story:
    return load_demo_story()


@pytest.fixture
def choice(story):
    """`choice("Row out to the wreck")`: the demo story's choice with that text."""

    def find(text: str) -> Choice:
        return Choice.objects.get(chapter__story=story, text=text)

    return find


@pytest.fixture
def reader(db):
    """A new member (100 points of welcome bonus)."""
    return MemberFactory()

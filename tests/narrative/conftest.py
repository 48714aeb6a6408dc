"""Narrative fixtures: the demo story (branches, locked chapters, endings) and a member
who has started it; every test's writes pass the checks PostgreSQL defers to COMMIT."""

from __future__ import annotations

import pytest
from django.db import connection

from narrative.demo import load_demo_story
from narrative.models import Choice, Story
from tests.factories import MemberFactory
from tests.tournaments.helpers import settle


@pytest.fixture(autouse=True)
def _deferred_checks_pass(request):
    """The ledger's balanced-transfer check is deferred to COMMIT, which a rolled-back
    test never reaches: run it at the end of every test instead."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    request.getfixturevalue("db")
    yield
    if not connection.needs_rollback:
        settle()


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

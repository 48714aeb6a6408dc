"""Tournament fixtures: an open cup and players; every test's writes pass the checks
PostgreSQL defers to COMMIT."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.factories import MemberFactory, TournamentFactory
from tests.tournaments.helpers import settle
from tournaments.models import Tournament


@pytest.fixture(autouse=True)
def _deferred_checks_pass(request):
    """A test's transaction is rolled back, so the deferred constraint triggers (counters,
    waitlist numbering, paid slots, balanced transfers) would never run: run them at the
    end of every test instead. A test that left the database inconsistent fails here."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    request.getfixturevalue("db")  # set up first, so torn down after this
    yield
    if not connection.needs_rollback:
        settle()


@pytest.fixture
def cup(db) -> Tournament:
    """Registration open: 4 slots, a 10-point entry fee, prizes 300 and 100."""
    return TournamentFactory(name="Spring Cup", capacity=4, entry_fee=10)


@pytest.fixture
def players(db):
    """`players(n)`: n new members, each with the 100-point welcome bonus."""

    def make(count: int) -> list:
        return [MemberFactory() for _ in range(count)]

    return make


@pytest.fixture
def free(db) -> Tournament:
    """An open tournament without an entry fee, 4 slots."""
    return TournamentFactory(entry_fee=0, capacity=4)

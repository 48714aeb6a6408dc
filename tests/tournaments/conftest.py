"""Tournament fixtures: an open cup and players; every test's writes pass the checks
PostgreSQL defers to COMMIT."""

from __future__ import annotations

import pytest

from tests.factories import MemberFactory, TournamentFactory
from tests.tournaments.helpers import checks_at_the_end
from tournaments.models import Tournament

_deferred_checks_pass = pytest.fixture(autouse=True)(checks_at_the_end)


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

"""`seed_demo` leaves a tournament in each state a night goes through, so every page has
something on first run; a rerun makes no second set."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from tournaments.models import Match, Status, Tournament

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_one_tournament_in_each_state_once():
    call_command("seed_demo", "--members", "40", stdout=StringIO())
    call_command("seed_demo", "--members", "40", stdout=StringIO())
    cups = {t.name: t for t in Tournament.objects.all()}
    assert {name: cup.status for name, cup in cups.items()} == {
        "Open Cup": Status.REGISTRATION,
        "Check-in Cup": Status.CHECK_IN,
        "Live Cup": Status.IN_PROGRESS,
        "Finished Cup": Status.COMPLETED,
    }
    assert cups["Open Cup"].waitlist_count == 2
    live = Match.objects.filter(tournament=cups["Live Cup"])
    assert live.filter(winner__isnull=False).exists()
    assert live.filter(winner__isnull=True).exists()
    assert cups["Finished Cup"].prize_transfer_id is not None

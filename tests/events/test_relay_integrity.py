"""The integrity report says when the relay is behind by more than the bound."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from events.models import RelayPosition
from integrity.runner import run_checks

pytestmark = pytest.mark.django_db


def unsent_event(age: float) -> int:
    at = connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(seconds=age))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_event (kind, subject, data, created_at)"
            " VALUES ('test.unsent', '', '{}', %s) RETURNING seq",
            [at],
        )
        return cursor.fetchone()[0]


def place_relay(seq: int) -> None:
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": seq, "moved_at": timezone.now()}
    )


def test_a_relay_behind_past_the_bound_is_a_violation(settings):
    settings.RELAY_MAX_LAG_SECONDS = 30
    seq = unsent_event(age=45)
    place_relay(seq - 1)
    (result,) = run_checks(["events.relay_keeps_up"]).checks
    assert (result.status, result.violations) == ("failed", 1)
    assert f"'position': {seq - 1}" in str(result.sample)


def test_a_relay_within_the_bound_is_clean(settings):
    settings.RELAY_MAX_LAG_SECONDS = 30
    seq = unsent_event(age=5)
    place_relay(seq - 1)
    (result,) = run_checks(["events.relay_keeps_up"]).checks
    assert (result.status, result.violations) == ("ok", 0)

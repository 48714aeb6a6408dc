"""WEBHOOK_RETRY_SCHEDULE from the environment: whole seconds, or a clear refusal."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.schedules import env_seconds


def test_a_schedule_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("TEST_SCHEDULE", " 1, 5 ,60")
    assert env_seconds("TEST_SCHEDULE", "9") == [1, 5, 60]
    monkeypatch.delenv("TEST_SCHEDULE")
    assert env_seconds("TEST_SCHEDULE", "5,30") == [5, 30]


@pytest.mark.parametrize("raw", ["", "0", "5,x", "-1", "1.5", "999999999"])
def test_a_bad_schedule_stops_the_start(monkeypatch, raw):
    monkeypatch.setenv("TEST_SCHEDULE", raw)
    with pytest.raises(ImproperlyConfigured, match="TEST_SCHEDULE: comma-separated seconds"):
        env_seconds("TEST_SCHEDULE", "5")

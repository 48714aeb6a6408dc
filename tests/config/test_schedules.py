"""WEBHOOK_RETRY_SCHEDULE (whole seconds) and WEBHOOK_DELIVERY_RETENTION (an age) from the
environment, or a clear refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.schedules import env_age, env_seconds


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


def test_an_age_is_read_from_the_environment_in_the_commands_grammar(monkeypatch):
    monkeypatch.setenv("TEST_AGE", " 2w ")
    assert env_age("TEST_AGE", "30d") == timedelta(days=14)
    monkeypatch.delenv("TEST_AGE")
    assert env_age("TEST_AGE", "30d") == timedelta(days=30)


@pytest.mark.parametrize("raw", ["30", "d", "0h", "-3d", "1.5d", "3m", "9999999d"])
def test_a_bad_age_stops_the_start(monkeypatch, raw):
    monkeypatch.setenv("TEST_AGE", raw)
    with pytest.raises(ImproperlyConfigured, match="TEST_AGE"):
        env_age("TEST_AGE", "30d")


def test_an_age_past_a_hundred_years_is_a_readable_refusal_not_an_overflow():
    from config.schedules import parse_age

    assert parse_age("36500d").days == 36_500
    for text in ("36501d", "999999d", "999999w", "999999h"):
        with pytest.raises(ValueError, match="at most 100 years"):
            parse_age(text)

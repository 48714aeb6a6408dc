"""Rollups equal what a small history made through the actions gives when counted by
hand, rebuild idempotently, and the integrity check catches a wrong row."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from analytics.actions import rebuild, rebuild_days, refresh_recent
from analytics.exceptions import BadRange
from analytics.integrity import mismatches, rollups_match_source, sample_days
from analytics.models import Grain, Rollup
from analytics.rollup import adapt, compute, day_start, stored
from tests.helpers import raw_write


def rows_of(day) -> dict:
    return {(m, d): v for m, d, v in stored(Grain.DAY, day_start(day))}


def test_a_days_rollup_equals_the_hand_counted_history(history):
    rebuild_days(history.today, history.closes)
    found = rows_of(history.today)
    for key, value in history.expected.items():
        assert found.get(key) == value, key


def test_tournament_attendance_is_counted_on_the_day_check_in_closes(history):
    rebuild_days(history.today, history.closes)
    found = rows_of(history.closes)
    assert found[("tournaments.held", "")] == 1
    assert found[("tournaments.capacity", "")] == 4
    assert found[("tournaments.checked_in", "")] == 2
    assert found[("tournaments.no_shows", "")] == 2


def test_the_story_funnel_and_decision_times_are_rolled_up(history):
    rebuild_days(history.today, history.today)
    found = rows_of(history.today)
    story = str(history.story.pk)
    assert found[("narrative.reached", f"{story}:1")] == 3
    # The two who decided reached chapter 1 moments before: a median of seconds.
    assert 0 <= found[("narrative.decision_seconds", f"{story}:1")] < 60
    reached_next = sum(
        v for (m, d), v in found.items() if m == "narrative.reached" and d != f"{story}:1"
    )
    assert reached_next == 2  # each decision led on to a chapter


def test_hours_add_up_to_the_day(history):
    rebuild_days(history.today, history.today)
    day = rows_of(history.today)
    hours = Rollup.objects.filter(grain=Grain.HOUR, bucket__gte=day_start(history.today))
    summed: dict = {}
    for row in hours:
        summed[row.metric, row.dimension] = summed.get((row.metric, row.dimension), 0) + row.value
    for key in [("members.registered", ""), ("ledger.issued", "points:award")]:
        assert summed[key] == day[key]


def test_rebuilding_a_day_twice_gives_the_same_rows(history):
    rebuild_days(history.today, history.today)
    first = stored(Grain.DAY, day_start(history.today))
    ids = set(Rollup.objects.values_list("pk", flat=True))
    rebuild_days(history.today, history.today)
    assert stored(Grain.DAY, day_start(history.today)) == first
    assert first == compute(Grain.DAY, day_start(history.today))
    assert not ids & set(Rollup.objects.values_list("pk", flat=True))  # rows replaced


def test_the_beat_refresh_rolls_up_today(history):
    refresh_recent()
    assert rows_of(history.today)[("members.registered", "")] == 5


def test_old_hour_rows_are_pruned(history):
    start = day_start(history.today) - timedelta(days=5)
    rebuild(Grain.HOUR, start, start + timedelta(hours=1))
    raw_write(
        "INSERT INTO analytics_rollup (grain, bucket, metric, dimension, value)"
        " VALUES ('hour', %s, 'members.registered', '', 1)",
        [adapt(start)],
    )
    refresh_recent()
    assert not Rollup.objects.filter(grain=Grain.HOUR, bucket__lt=start + timedelta(days=3))


def test_the_integrity_check_catches_a_planted_wrong_row(history):
    rebuild_days(history.today, history.today)
    assert mismatches(history.today) == []
    raw_write(
        "UPDATE analytics_rollup SET value = value + 1 WHERE grain = 'day' AND metric = %s",
        ["members.registered"],
    )
    assert mismatches(history.today) == [
        f"{history.today} members.registered[]: stored 6, source 5"
    ]


def test_the_registered_check_samples_settled_days(db):
    old = day_start(timezone.now().date() - timedelta(days=9))
    assert rollups_match_source().count == 0
    raw_write(
        "INSERT INTO analytics_rollup (grain, bucket, metric, dimension, value)"
        " VALUES ('day', %s, 'members.registered', '', 7)",
        [adapt(old)],
    )
    assert sample_days(old.date() + timedelta(days=9)) == [old.date()]
    found = rollups_match_source()
    assert found.count == 1
    assert found.sample == [f"{old.date()} members.registered[]: stored 7, source 0"]


def test_a_range_ending_before_it_starts_is_refused(db):
    today = date(2026, 12, 6)
    with pytest.raises(BadRange):
        rebuild_days(today, today - timedelta(days=1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--from YYYY-MM-DD is required"),
        (["--from", "2026-13-01"], "not a date (YYYY-MM-DD): 2026-13-01"),
        (["--from", "2026-12-06", "--to", "2026-11-01"], "--to 2026-11-01 is before --from"),
        (["--from", "1900-01-01", "--to", "2026-01-01"], "at most 3660"),
    ],
)
def test_the_command_refuses_bad_arguments_in_one_line(db, args, message):
    with pytest.raises(CommandError) as refused:
        call_command("rollup", *args)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert refused.value.returncode == 2


def test_the_command_rebuilds_a_range(history, capsys):
    call_command(
        "rollup", "--from", str(history.today - timedelta(days=2)), "--to", str(history.today)
    )
    assert "rolled up 3 days" in capsys.readouterr().out
    assert rows_of(history.today)[("members.registered", "")] == 5


def test_beat_runs_the_refresh_task(history, settings):
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["analytics-rollups"]
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    assert entry["task"] in app.tasks
    app.tasks[entry["task"]].apply()
    assert rows_of(history.today)[("members.registered", "")] == 5

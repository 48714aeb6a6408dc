"""Alerts delivered through Apprise to a real HTTP receiver on the loopback: one per new
failure, one resolution when it clears, each also an event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.actions import register_member
from events.models import Event
from integrity.tasks import run_integrity_report
from ops.alerts import evaluate
from ops.models import Alert, BackupRun, DrillRun, Heartbeat
from ops.tasks import heartbeat
from tests.helpers import raw_write as raw
from tests.ops.receiver import receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def alerting(settings):
    """Alerts sent to a receiver; the backup rule off (no backups in these tests)."""
    settings.ALERT_BACKUP_MAX_AGE_HOURS = 0
    with receiver() as (url, received):
        settings.ALERT_URLS = [url]
        yield received


def alert_events() -> list[str]:
    return list(
        Event.objects.filter(kind__startswith="system.alert_")
        .order_by("seq")
        .values_list("kind", flat=True)
    )


def test_a_planted_violation_alerts_once_and_resolves_once(alerting):
    member = register_member(platform="web", external_id="x", email="x@example.org").member
    raw(
        "UPDATE accounts_member SET email_normalized = 'someone@else.org' WHERE id = %s",
        [member.pk],
    )

    for _ in range(2):  # the report runs again and the check still fails: still one alert
        run_integrity_report()
        evaluate()
    assert len(alerting) == 1
    assert alerting[0]["type"] == "failure"
    assert "accounts.email_normalized_matches" in alerting[0]["title"]
    assert alert_events() == ["system.alert_raised"]

    raw("UPDATE accounts_member SET email_normalized = 'x@example.org' WHERE id = %s", [member.pk])
    for _ in range(2):
        run_integrity_report()
        evaluate()
    assert len(alerting) == 2
    assert alerting[1]["type"] == "success"
    assert "resolved" in alerting[1]["title"]
    assert alert_events() == ["system.alert_raised", "system.alert_resolved"]
    alert = Alert.objects.get()
    assert (alert.key, alert.state) == ("integrity:accounts.email_normalized_matches", "resolved")
    assert alert.raised_sent
    assert alert.resolved_sent


def test_a_failure_after_a_resolution_is_a_new_alert(alerting):
    DrillRun.objects.create(
        started_at=timezone.now(), finished_at=timezone.now(), ok=False, error="restore failed"
    )
    evaluate()
    DrillRun.objects.create(started_at=timezone.now(), finished_at=timezone.now(), ok=True)
    evaluate()
    DrillRun.objects.create(
        started_at=timezone.now(), finished_at=timezone.now(), ok=False, error="row counts differ"
    )
    evaluate()
    assert [m["type"] for m in alerting] == ["failure", "success", "failure"]
    assert "row counts differ" in alerting[2]["message"]
    assert Alert.objects.filter(key="drill_failed").count() == 2


def test_a_message_not_accepted_is_sent_by_the_next_evaluation(settings):
    settings.ALERT_BACKUP_MAX_AGE_HOURS = 0
    with receiver() as (url, received):
        pass  # closed: nothing listens there now
    settings.ALERT_URLS = [url]
    DrillRun.objects.create(
        started_at=timezone.now(), finished_at=timezone.now(), ok=False, error="x"
    )
    evaluate()
    assert Alert.objects.get().raised_sent is False
    with receiver() as (url, received):
        settings.ALERT_URLS = [url]
        evaluate()
        evaluate()
    assert len(received) == 1
    assert Alert.objects.get().raised_sent is True


def test_relay_lag_holds_silence_and_stale_backups_alert_past_their_thresholds(
    alerting, settings, clock, alice
):
    settings.ALERT_BACKUP_MAX_AGE_HOURS = 26
    settings.ALERT_RELAY_LAG_SECONDS = 60
    heartbeat()
    now = timezone.now()
    BackupRun.objects.create(
        started_at=now,
        finished_at=now,
        kind="sqlite",
        path="b",
        sha256="0" * 64,
        size_bytes=1,
        ok=True,
    )
    evaluate()
    assert alerting == []
    clock.advance(hours=27)  # no relay runs: alice's registration waits in the log
    evaluate()
    assert set(Alert.objects.filter(state="open").values_list("key", flat=True)) == {
        "relay_lag",
        "beat_or_worker_silent",
        "backup_stale",
    }
    assert len(alerting) == 3


def test_holds_pending_past_expiry_alert(alerting, settings, alice, clock):
    from ledger.actions import award, hold

    award(alice, 100, currency="points", reason="t", idempotency_key="a1")
    hold(
        alice,
        10,
        currency="points",
        sink="shop",
        reason="t",
        idempotency_key="h1",
        expires_at=timezone.now() + timedelta(minutes=1),
    )
    evaluate()
    assert not Alert.objects.filter(rule="holds_expired").exists()
    clock.advance(minutes=10)
    evaluate()
    assert Alert.objects.get(rule="holds_expired").state == "open"


def test_a_rule_that_cannot_be_evaluated_keeps_its_alerts_open(alerting):
    DrillRun.objects.create(
        started_at=timezone.now(), finished_at=timezone.now(), ok=False, error="x"
    )
    evaluate()

    def broken():
        raise RuntimeError("database away")

    outcome = evaluate({"drill_failed": broken})
    assert outcome.errors == {"drill_failed": "RuntimeError: database away"}
    assert Alert.objects.get().state == "open"


def test_the_heartbeat_is_one_row():
    heartbeat()
    heartbeat()
    assert Heartbeat.objects.filter(name="beat").count() == 1


# --- the rules the database holds ---------------------------------------------------


def insert_alert(key: str, state: str = "open", resolved: bool = False) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ops_alert (key, rule, state, title, body, raised_at, resolved_at,"
            " raised_sent, resolved_sent) VALUES (%s, 'r', %s, 't', '', %s, %s, false, false)",
            [key, state, timezone.now(), timezone.now() if resolved else None],
        )


def test_one_open_alert_per_key_is_held_by_the_database():
    insert_alert("k")
    insert_alert("k", "resolved", resolved=True)  # a resolved one beside it is fine
    with (
        pytest.raises(
            IntegrityError,
            match=r"ops_alert_one_open_per_key|UNIQUE constraint failed: ops_alert\.key",
        ),
        transaction.atomic(),
    ):
        insert_alert("k")


@pytest.mark.parametrize(
    ("key", "state", "resolved", "rule"),
    [
        ("k", "snoozed", False, "ops_alert_state_valid"),
        ("k", "resolved", False, "ops_alert_resolved_iff_resolved_at"),
        ("k", "open", True, "ops_alert_resolved_iff_resolved_at"),
        ("", "open", False, "ops_alert_key_not_blank"),
    ],
)
def test_alert_rows_are_checked_by_the_database(key, state, resolved, rule):
    with pytest.raises(IntegrityError, match=rule), transaction.atomic():
        insert_alert(key, state, resolved)


@pytest.mark.parametrize(
    ("values", "rule"),
    [
        ("'pg_dump', '', 0, '', true", "ops_backuprun_ok_has_file"),
        ("'pg_dump', 'f', -1, '', false", "ops_backuprun_size_not_negative"),
        ("'tarball', 'f', 0, '', false", "ops_backuprun_kind_valid"),
    ],
)
def test_backup_runs_are_checked_by_the_database(values, rule):
    now = timezone.now()
    with (
        pytest.raises(IntegrityError, match=rule),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO ops_backuprun (started_at, finished_at, kind, path, size_bytes,"
            f" sha256, ok, error, row_counts) VALUES (%s, %s, {values}, '', '{{}}')",
            [now, now],
        )


def test_a_failed_drill_must_say_why():
    now = timezone.now()
    with (
        pytest.raises(IntegrityError, match="ops_drillrun_failure_has_error"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO ops_drillrun (started_at, finished_at, path, ok, restore_seconds,"
            " report, error) VALUES (%s, %s, '', false, 0, '{}', '')",
            [now, now],
        )


def test_alerts_show_on_the_dashboard_feed(alerting):
    from dashboard.renders import feed

    DrillRun.objects.create(
        started_at=timezone.now(), finished_at=timezone.now(), ok=False, error="x"
    )
    evaluate()
    assert [item.text for item in feed(5)] == ["alert raised: the restore drill failed"]


def test_check_alerts_exits_1_while_an_alert_is_open_and_0_when_it_cleared(settings):
    from django.core.management import call_command

    settings.ALERT_BACKUP_MAX_AGE_HOURS = 0
    settings.ALERT_URLS = []
    DrillRun.objects.create(
        started_at=timezone.now(), finished_at=timezone.now(), ok=False, error="x"
    )
    with pytest.raises(SystemExit) as exited:
        call_command("check_alerts")
    assert exited.value.code == 1
    DrillRun.objects.create(started_at=timezone.now(), finished_at=timezone.now(), ok=True)
    call_command("check_alerts")  # nothing open: returns (exit 0)
    assert Alert.objects.get().state == "resolved"

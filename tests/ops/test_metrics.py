"""`/metrics` read over real HTTP (pytest-django's live server: this process's
instruments), parsed with prometheus-client's parser; each instrument moves when what it
counts happens."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connection

from dashboard import actions as overlay
from dashboard import cache
from integrity.tasks import run_integrity_report
from ledger import actions as ledger
from ledger.exceptions import InsufficientFunds
from tests.ops.scrape import fetch, has, scrape, value

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_request_latency_is_labelled_by_view_not_path(live_server):
    before = scrape(live_server.url)
    for _ in range(3):
        fetch(f"{live_server.url}/healthz")
    fetch(f"{live_server.url}/overlays/some-secret-token/leaderboard/")
    after = scrape(live_server.url)
    count = "concord_http_request_duration_seconds_count"
    assert value(after, count, view="healthz", method="GET") - value(
        before, count, view="healthz", method="GET"
    ) == pytest.approx(3)
    assert value(after, count, view="overlay") - value(before, count, view="overlay") == 1
    assert not any("some-secret-token" in str(key) for key in after)


def test_database_time_is_counted_per_request_and_per_statement(live_server):
    """A request is observed once its view has answered, so a scrape's own request shows
    in the next scrape (and only there: before, this test counted on an earlier test's
    scrapes, and failed when it ran first)."""
    before = scrape(live_server.url)  # the scrape itself reads the database
    after = scrape(live_server.url)
    count, total = "concord_http_request_db_seconds_count", "concord_http_request_db_seconds_sum"
    assert value(after, count, view="metrics") - value(before, count, view="metrics") == 1
    assert value(after, total, view="metrics") > value(before, total, view="metrics")
    statements = "concord_db_query_duration_seconds_count"
    assert value(after, statements, vendor=connection.vendor) > value(
        before, statements, vendor=connection.vendor
    )


def test_refusals_are_counted_by_app_and_exception_class(live_server, alice):
    name = "concord_domain_refusals_total"
    labels = {"app": "ledger", "exception": "InsufficientFunds"}
    before = value(scrape(live_server.url), name, **labels)
    for attempt in range(2):
        with pytest.raises(InsufficientFunds):
            ledger.spend(
                alice,
                10**9,
                currency="points",
                sink="shop",
                reason="x",
                idempotency_key=f"s{attempt}",
            )
    assert value(scrape(live_server.url), name, **labels) - before == 2


def test_a_refusal_that_names_a_rule_first_counts_once_when_refused(live_server, alice):
    """`unmet_rule` builds the ChapterLocked that start_story then raises: one refusal,
    one count (a refusal is counted when made; Concord makes one only to raise it)."""
    from narrative.actions import start_story
    from narrative.demo import load_demo_story
    from narrative.exceptions import ChapterLocked
    from narrative.models import Chapter

    name = "concord_domain_refusals_total"
    labels = {"app": "narrative", "exception": "ChapterLocked"}
    story = load_demo_story()
    Chapter.objects.filter(story=story, number=1).update(vip_only=True)
    before = value(scrape(live_server.url), name, **labels)
    for _ in range(2):
        with pytest.raises(ChapterLocked):
            start_story(alice, story)
    assert value(scrape(live_server.url), name, **labels) - before == 2


def test_cache_hits_and_misses_are_counted_per_cached_name(live_server, alice):
    reads = "concord_cache_reads_total"
    before = scrape(live_server.url)
    cache.balance(alice.pk, "points")  # her registration, by this process, awaits the relay
    cache.forget_written()  # as the relay's pass over it would
    cache.balance(alice.pk, "points")
    cache.balance(alice.pk, "points")
    cache.leaderboard("points")
    after = scrape(live_server.url)
    moved = {
        result: value(after, reads, name="bal", result=result)
        - value(before, reads, name="bal", result=result)
        for result in ("bypass", "hit", "miss")
    }
    assert moved == {"bypass": 1, "hit": 1, "miss": 1}
    assert value(after, reads, name="lb", result="miss") >= 1
    assert not any(str(alice.pk) in dict(labels).get("name", "") for _, labels in after)


def test_relay_lag_and_backlog_are_read_from_the_log(live_server, alice):
    # No relay runs in this test: the member's registration waits in the log.
    samples = scrape(live_server.url)
    assert value(samples, "concord_relay_backlog_events") >= 1
    assert value(samples, "concord_relay_lag_seconds") >= 0
    assert has(samples, "concord_relay_position")


def test_integrity_results_and_durations_come_from_the_latest_run(live_server, alice):
    before = scrape(live_server.url)
    run_integrity_report()
    after = scrape(live_server.url)
    assert value(after, "concord_integrity_last_run_ok") == 1
    assert value(after, "concord_integrity_check_ok", check="ledger.balance_matches_postings") == 1
    assert has(after, "concord_integrity_check_duration_seconds", check="events.relay_keeps_up")
    runs = "concord_integrity_runs_total"
    assert value(after, runs, result="ok") - value(before, runs, result="ok") == 1


def test_websocket_connections_are_gauged_by_kind(live_server):
    token = overlay.create_token("events").token
    gauge = "concord_websocket_connections"

    async def connect_and_scrape():
        from asgiref.sync import sync_to_async

        from config.asgi import application

        comm = WebsocketCommunicator(
            application, f"/ws/stream/?token={token}", headers=[(b"host", b"127.0.0.1")]
        )
        connected, _ = await comm.connect()
        assert connected
        during = await sync_to_async(scrape)(live_server.url)
        await comm.disconnect()
        return during

    before = value(scrape(live_server.url), gauge, kind="stream")
    during = async_to_sync(connect_and_scrape)()
    after = value(scrape(live_server.url), gauge, kind="stream")
    assert value(during, gauge, kind="stream") - before == 1
    assert after == before
    assert value(during, "concord_websocket_connections_opened_total", kind="stream") >= 1


@pytest.mark.redis
def test_celery_queue_length_is_read_from_the_broker(live_server, settings):
    from kombu import Connection, Exchange, Queue

    name = f"concord-test-metrics-{connection.vendor}"
    settings.METRICS_CELERY_QUEUES = [name]
    queue = Queue(name, Exchange(name), routing_key=name)
    with Connection(settings.CELERY_BROKER_URL) as conn:
        producer = conn.Producer()
        try:
            for n in range(3):
                producer.publish(
                    {"n": n}, exchange=queue.exchange, routing_key=name, declare=[queue]
                )
            samples = scrape(live_server.url)
        finally:
            queue(conn.default_channel).delete()
    assert value(samples, "concord_celery_queue_length", queue=name) == 3


def test_backups_drills_and_open_alerts_are_reported(live_server, settings, tmp_path):
    from django.core.management import call_command

    from ops.alerts import evaluate
    from ops.models import BackupRun
    from ops.rules import backup_stale

    settings.BACKUP_DIR = tmp_path
    settings.ALERT_BACKUP_MAX_AGE_HOURS = 26
    evaluate({"backup_stale": backup_stale})
    before = scrape(live_server.url)
    assert value(before, "concord_alerts_open", rule="backup_stale") == 1
    assert not has(before, "concord_backup_last_success_timestamp_seconds")
    call_command("backup", "--logical")
    call_command("restore_drill")
    after = scrape(live_server.url)
    run = BackupRun.objects.get()
    assert value(after, "concord_backup_last_success_timestamp_seconds") == pytest.approx(
        run.finished_at.timestamp()
    )
    assert value(after, "concord_backup_last_size_bytes") == run.size_bytes
    assert value(after, "concord_restore_drill_last_ok") == 1

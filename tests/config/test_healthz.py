from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.servers import daphne, database_url_for_tests, migrate_child_database, redis_server

pytestmark = pytest.mark.django_db(transaction=True)


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_healthz_reports_each_service_in_process(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["services"]) == {"database", "cache", "channel_layer", "broker", "relay"}
    assert all(state["ok"] for state in body["services"].values())


def test_healthz_on_embedded_defaults_served_by_daphne(tmp_path):
    env = {"DATABASE_URL": database_url_for_tests(tmp_path)}
    migrate_child_database(env)  # the relay's lag is read from the log
    with daphne(env) as base:
        status, body = get_json(f"{base}/healthz")
    assert status == 200, body
    assert body["services"]["channel_layer"]["detail"] == "InMemoryChannelLayer"
    assert body["services"]["broker"]["detail"].startswith("eager")


def test_healthz_answers_503_naming_what_is_down_when_redis_stops(tmp_path):
    with redis_server() as (redis_url, redis_proc):
        env = {"DATABASE_URL": database_url_for_tests(tmp_path), "REDIS_URL": redis_url}
        migrate_child_database(env)
        with daphne(env) as base:
            status, body = get_json(f"{base}/healthz")
            assert status == 200, body
            # channels_redis's layer, whichever CHANNEL_LAYER chose (pubsub by default)
            assert body["services"]["channel_layer"]["detail"] in {
                "RedisPubSubChannelLayer",
                "RedisChannelLayer",
            }

            redis_proc.terminate()
            redis_proc.wait(timeout=10)

            status, body = get_json(f"{base}/healthz")
    assert status == 503
    assert body["status"] == "down"
    assert set(body["down"]) == {"cache", "channel_layer", "broker"}
    assert body["services"]["database"]["ok"] is True
    for name in body["down"]:
        assert body["services"][name]["error"]


def test_a_hung_dependency_is_reported_within_the_timeout_and_holds_up_no_other(
    client, monkeypatch
):
    import time

    from config import health

    def hung_database():
        time.sleep(health.CHECK_TIMEOUT + 2)
        return "never"

    def broken_cache():
        raise ConnectionError("redis://secret-host:6379 refused")

    monkeypatch.setitem(health.CHECKS, "database", hung_database)
    monkeypatch.setitem(health.CHECKS, "cache", broken_cache)
    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    body = response.json()
    assert set(body["down"]) == {"database", "cache"}
    assert body["services"]["database"]["error"] == "no answer within 3s"
    # The public body names the failure, never hosts or credentials.
    assert body["services"]["cache"]["error"] == "ConnectionError"
    assert "secret-host" not in response.content.decode()
    assert body["services"]["broker"]["ok"] is True
    assert body["services"]["channel_layer"]["ok"] is True
    assert elapsed < health.CHECK_TIMEOUT + 1.5


def test_healthz_reports_how_far_the_relay_is_behind(client):
    from django.utils import timezone

    from events.models import Event, RelayPosition

    latest = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": latest, "moved_at": timezone.now()}
    )
    body = client.get("/healthz").json()
    assert body["relay"] == {"behind_events": 0, "behind_seconds": 0.0, "position": latest}
    assert body["services"]["relay"]["ok"] is True


def test_healthz_answers_503_naming_the_relay_when_it_is_behind_past_the_bound(client, settings):
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from events.models import RelayPosition

    settings.RELAY_MAX_LAG_SECONDS = 30
    old = connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(seconds=45))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_event (kind, subject, data, created_at)"
            " VALUES ('test.unsent', '', '{}', %s) RETURNING seq",
            [old],
        )
        (seq,) = cursor.fetchone()
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": seq - 1, "moved_at": timezone.now()}
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["relay"]
    assert body["relay"]["behind_events"] == 1
    assert body["relay"]["position"] == seq - 1
    assert 44 <= body["relay"]["behind_seconds"] <= 60

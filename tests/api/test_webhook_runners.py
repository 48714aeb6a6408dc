"""Webhooks delivered by what runs them in production and on embedded defaults: a real
Celery worker with beat (PostgreSQL + Redis), and the in-process runner of a daphne
serving on embedded defaults (no REDIS_URL: tasks are eager, nothing else to start). Each
to a real receiver on the loopback that verifies signatures, is down for a while (503,
then refusing connections), and gets every event in seq order afterwards."""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.conf import settings

from accounts.actions import register_member
from api.actions import create_endpoint, create_key
from api.models import WebhookDelivery
from tests.api.conftest import this_database
from tests.api.receiver import Receiver
from tests.servers import celery_worker, daphne, database_url_for_tests

pytestmark = pytest.mark.django_db(transaction=True)
FAST = {
    "WEBHOOK_RETRY_SCHEDULE": "1,1,1,1,1,1,1,1,1,1",
    "WEBHOOK_TICK_SECONDS": "1",
    # The children run production-like (DJANGO_DEBUG=0); the receiver is on the loopback,
    # allowed by default (api.netguard: WEBHOOK_ALLOW_PRIVATE_NETWORKS).
}


def endpoint_at(receiver: Receiver):
    key = create_key(label="runner bot", scopes=["events:read", "webhooks:manage"]).key
    created = create_endpoint(key, url=receiver.url)
    receiver.secret = created.secret
    return created.endpoint


def expected_seqs(endpoint) -> list[int]:
    from api.routes.events import read_upto
    from dashboard.scopes import Scope
    from events.models import Event

    top = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
    found, _ = read_upto(Scope.parse("events"), endpoint.position, top, 500)
    return [e["seq"] for e in found]


def wait_for(condition, what: str, proc=None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker exited: {proc.stdout.read().decode()[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def outage_then_recovery(receiver: Receiver, endpoint, proc=None) -> None:
    """503 until two attempts failed, refused connections for 2.5 s, then up."""
    wait_for(lambda: receiver.requests >= 2, "two refused attempts", proc)
    receiver.down()
    register_member(platform="web", external_id=f"during-{uuid.uuid4().hex[:6]}")
    time.sleep(2.5)
    receiver.mode = "up"
    receiver.up()
    expected = expected_seqs(endpoint)
    wait_for(lambda: len(receiver.accepted) >= len(expected), "every event", proc)
    assert receiver.seqs() == expected
    assert receiver.rejected == []
    head = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("seq").first()
    assert head.attempts >= 3  # two 503s, then refused and/or the success
    assert head.attempt_log.filter(status_code=503).count() >= 2


@pytest.mark.redis
def test_a_celery_worker_with_beat_delivers_in_order_through_an_outage(tmp_path):
    if not database_url_for_tests(tmp_path).startswith("postgres"):
        pytest.skip("the worker needs a database shared with the test (PostgreSQL)")
    receiver = Receiver()
    receiver.mode = "503"
    try:
        endpoint = endpoint_at(receiver)
        for n in range(3):
            register_member(platform="web", external_id=f"celery-{n}")
        queue = f"test-{uuid.uuid4().hex[:8]}"
        env = {
            "DATABASE_URL": database_url_for_tests(tmp_path),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_QUEUE": queue,
            **FAST,
        }
        with celery_worker(env, queue, beat_schedule=tmp_path / "beat") as worker:
            outage_then_recovery(receiver, endpoint, worker)
    finally:
        receiver.close()


def test_the_in_process_runner_of_an_embedded_server_delivers_in_order_through_an_outage(
    tmp_path,
):
    receiver = Receiver()
    receiver.mode = "503"
    try:
        endpoint = endpoint_at(receiver)
        for n in range(3):
            register_member(platform="web", external_id=f"embedded-{n}")
        env = {"DATABASE_URL": this_database(tmp_path), **FAST}  # no REDIS_URL: embedded
        with daphne(env) as base:
            # The first request starts the runner (whatever /healthz answers).
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"{base}/healthz", timeout=30).close()
            outage_then_recovery(receiver, endpoint)
    finally:
        receiver.close()

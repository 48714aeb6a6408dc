"""Pruning the delivery log (`api.actions.prune_deliveries`, beat's
`api.tasks.prune_webhook_deliveries`, `manage.py prune_webhook_deliveries`): delivered
deliveries older than the retention go with their attempts; pending and failed ones stay,
and the order rule (seq N+1 waits for N) holds across a prune."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from api import delivery, tasks
from api.actions import (
    create_endpoint,
    create_key,
    enqueue_deliveries,
    prune_deliveries,
    record_attempt,
    redeliver,
    update_endpoint,
)
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.api.receiver import Receiver
from tests.api.test_webhooks import members, public_seqs, run_until

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
MONTH = timedelta(days=30)


def attempt(delivery_id: int, at, ok: bool, schedule=(60.0,)) -> WebhookDelivery:
    return record_attempt(
        delivery_id,
        at=at,
        ok=ok,
        status_code=204 if ok else 503,
        error="" if ok else "HTTP 503",
        duration_ms=3,
        schedule=list(schedule),
    )


@pytest.fixture
def log():
    """An endpoint with seqs 1-6: 1 and 2 delivered 40 days ago (2 after a failure), 3
    delivered an hour ago, 4 failed for good 40 days ago, 5 pending after a failure, 6
    pending untried."""
    key = create_key(label="hook bot", scopes=["events:read", "webhooks:manage"]).key
    endpoint = create_endpoint(key, url="https://hooks.example.org/in").endpoint
    after = endpoint.position
    messages = [
        {"seq": after + n, "kind": "member.registered", "body": {"seq": after + n}}
        for n in range(1, 7)
    ]
    enqueue_deliveries(endpoint.pk, after=after, upto=after + 6, messages=messages)
    rows = list(WebhookDelivery.objects.order_by("seq"))
    old, now = timezone.now() - timedelta(days=40), timezone.now()
    attempt(rows[0].pk, old, True)
    attempt(rows[1].pk, old, False)
    attempt(rows[1].pk, old + timedelta(minutes=1), True)
    attempt(rows[2].pk, now - timedelta(hours=1), True)
    attempt(rows[3].pk, old, False, schedule=())  # failed for good: the endpoint disabled
    attempt(rows[4].pk, old, False)
    return endpoint, rows


def statuses(rows) -> dict[int, str]:
    """What is left of the fixture's deliveries: {1-6: status}."""
    found = WebhookDelivery.objects.filter(endpoint=rows[0].endpoint_id).order_by("seq")
    return {d.seq - rows[0].seq + 1: d.status for d in found}


def test_only_old_delivered_deliveries_go_with_their_attempts(log):
    endpoint, rows = log
    pruned = prune_deliveries(MONTH)
    assert pruned == (2, 3, 1)
    assert statuses(rows) == {3: "delivered", 4: "failed", 5: "pending", 6: "pending"}
    assert not WebhookAttempt.objects.filter(delivery_id__in=[rows[0].pk, rows[1].pk]).exists()
    assert WebhookAttempt.objects.count() == 3
    endpoint.refresh_from_db()
    assert endpoint.position == rows[-1].seq  # the queue's position is untouched
    assert prune_deliveries(MONTH) == (0, 0, 0)
    assert prune_deliveries(timedelta(minutes=30)) == (1, 1, 1)
    assert statuses(rows) == {4: "failed", 5: "pending", 6: "pending"}


def test_a_redelivered_delivery_is_pending_again_and_kept_as_the_head(log):
    endpoint, rows = log
    update_endpoint(endpoint.pk, enabled=True)
    redeliver(rows[0].pk)  # delivered 40 days ago, now the lowest pending seq
    assert delivery._head(endpoint).pk == rows[0].pk
    assert prune_deliveries(MONTH) == (1, 2, 1)  # seq 2 only
    assert delivery._head(endpoint).pk == rows[0].pk
    assert WebhookDelivery.objects.get(pk=rows[0].pk).attempts == 1


def test_the_beat_task_uses_the_retention_setting(log, settings):
    settings.WEBHOOK_DELIVERY_RETENTION = timedelta(days=60)
    assert tasks.prune_webhook_deliveries() == 0
    settings.WEBHOOK_DELIVERY_RETENTION = MONTH
    assert tasks.prune_webhook_deliveries() == 2
    assert "prune-webhook-deliveries" in settings.CELERY_BEAT_SCHEDULE


def test_the_order_holds_across_a_prune(make_bot, settings):
    """Delivered, then the receiver fails: the pending head stays the head through a prune
    (of everything delivered, at any age) and the rest arrive after it, in order."""
    settings.WEBHOOK_RETRY_SCHEDULE = [0.05] * 5
    bot = make_bot("events:read", "webhooks:manage", "members:write")
    receiver = Receiver()
    try:
        made = bot.post("/webhooks", {"url": receiver.url}).json()
        receiver.secret = made["secret"]
        members(2, start=100)
        first_round = public_seqs(bot, made["position"])
        run_until(lambda: len(receiver.accepted) == len(first_round))
        assert receiver.seqs() == first_round
        receiver.mode = "503"
        members(2, start=200)
        delivery.tick()
        head = WebhookDelivery.objects.filter(status="pending").order_by("seq").first()
        assert head.attempts == 1
        pruned = prune_deliveries(timedelta(0), now=timezone.now() + timedelta(days=1))
        assert pruned.deliveries == len(first_round)
        assert WebhookDelivery.objects.filter(status="delivered").count() == 0
        assert delivery._head(head.endpoint).pk == head.pk
        receiver.mode = "up"
        pending = list(WebhookDelivery.objects.order_by("seq").values_list("seq", flat=True))
        run_until(lambda: len(receiver.accepted) == len(first_round) + len(pending))
        assert receiver.seqs() == first_round + pending
    finally:
        receiver.close()


def test_the_command_prints_what_went(log):
    out = StringIO()
    call_command("prune_webhook_deliveries", stdout=out)
    assert out.getvalue() == (
        "pruned 2 delivered deliveries and 3 attempts of 1 webhook(s), delivered over 30d ago\n"
    )
    out = StringIO()
    call_command("prune_webhook_deliveries", "--older-than", "0h", stdout=out)
    assert out.getvalue().startswith("pruned 1 delivered deliveries and 1 attempts")
    with pytest.raises(CommandError, match="an age is a number of days"):
        call_command("prune_webhook_deliveries", "--older-than", "soon", stdout=StringIO())


def test_the_default_age_is_the_setting():
    assert settings.WEBHOOK_DELIVERY_RETENTION == MONTH  # 30d unless the environment says


@pytest.mark.parametrize(
    ("age", "says"),
    [("30", "an age is a number of days, weeks or hours"), ("999999d", "at most 100 years")],
)
def test_a_bad_argument_is_one_line_and_a_non_zero_exit(age, says):
    result = subprocess.run(
        [sys.executable, "manage.py", "prune_webhook_deliveries", "--older-than", age],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert says in result.stderr


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_racing_a_prune_is_kept(log):
    """The redelivery holds the endpoint's lock while the prune starts: the prune waits for
    it, then finds the delivery pending again and keeps it."""
    endpoint, rows = log
    update_endpoint(endpoint.pk, enabled=True)
    locked, results = threading.Event(), {}

    def redeliver_holding_the_lock():
        try:
            with transaction.atomic():
                WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
                locked.set()
                time.sleep(0.5)  # the prune starts meanwhile and waits on the lock
                redeliver(rows[0].pk)
        finally:
            connection.close()

    def prune():
        locked.wait(5)
        try:
            results["pruned"] = prune_deliveries(MONTH)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeliver_holding_the_lock), threading.Thread(target=prune)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results["pruned"] == (1, 2, 1)  # seq 2 only
    assert WebhookDelivery.objects.get(pk=rows[0].pk).status == "pending"
    assert delivery._head(endpoint).pk == rows[0].pk

"""The database's webhook rules, each proven by a write that bypasses the actions, and the
integrity checks for the rules that span rows."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from api.actions import create_endpoint, enqueue_deliveries, record_attempt
from api.models import WebhookDelivery
from integrity.registry import get_check
from tests.helpers import Bypass, sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(make_bot):
    """An endpoint with one delivery, attempted once (a 500)."""
    bot = make_bot("events:read", "webhooks:manage")
    endpoint = create_endpoint(bot.key, url="http://127.0.0.1:9/hook").endpoint
    after = endpoint.position
    body = {"type": "member.registered", "timestamp": None, "seq": after + 1, "data": {}}
    messages = [{"seq": after + 1, "kind": "member.registered", "body": body}]
    enqueue_deliveries(endpoint.pk, after=after, upto=after + 1, messages=messages)
    delivery = WebhookDelivery.objects.get()
    record_attempt(
        delivery.pk,
        at=timezone.now(),
        ok=False,
        status_code=500,
        error="HTTP 500",
        duration_ms=4,
        schedule=[60],
    )
    return endpoint, delivery


def refused(statement: str, params=()) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        sql(statement, params)


def test_the_database_refuses_malformed_endpoints(queued):
    endpoint, _ = queued
    where = f"WHERE id = {endpoint.pk}"
    refused(f"UPDATE api_webhookendpoint SET url = 'ftp://x' {where}")  # url_http
    refused(f"UPDATE api_webhookendpoint SET secret = 'plain' {where}")  # secret_format
    refused(f"UPDATE api_webhookendpoint SET scope = 'all' {where}")  # scope_format
    refused(f"UPDATE api_webhookendpoint SET position = -1 {where}")  # position_not_negative
    refused(f"UPDATE api_webhookendpoint SET enabled = %s {where}", [False])  # has_reason


def test_the_database_refuses_malformed_deliveries(queued):
    _, delivery = queued
    where = f"WHERE id = {delivery.pk}"
    refused(f"UPDATE api_webhookdelivery SET status = 'lost' {where}")  # status_valid
    refused(f"UPDATE api_webhookdelivery SET seq = 0 {where}")  # seq_positive
    refused(f"UPDATE api_webhookdelivery SET next_attempt_at = NULL {where}")  # due_iff_pending
    refused(  # delivered_has_time
        f"UPDATE api_webhookdelivery SET status = 'delivered', next_attempt_at = NULL {where}"
    )
    refused(f"UPDATE api_webhookdelivery SET round_start = 5 {where}")  # round_within_attempts
    refused(  # once: one delivery per endpoint and seq
        "INSERT INTO api_webhookdelivery (endpoint_id, seq, kind, body, status, attempts,"
        " round_start, next_attempt_at, created_at)"
        " SELECT endpoint_id, seq, kind, body, status, attempts, round_start, next_attempt_at,"
        f" created_at FROM api_webhookdelivery {where}"
    )


def test_the_database_refuses_malformed_attempts(queued):
    _, delivery = queued
    where = f"WHERE delivery_id = {delivery.pk}"
    refused(f"UPDATE api_webhookattempt SET number = 0 {where}")  # number_positive
    refused(f"UPDATE api_webhookattempt SET status_code = 999 {where}")  # status_code_valid
    refused(f"UPDATE api_webhookattempt SET ok = %s {where}", [True])  # ok_is_2xx (a 500)
    refused(  # failure_explained
        f"UPDATE api_webhookattempt SET status_code = NULL, error = '' {where}"
    )
    refused(  # once: one attempt per delivery and number
        "INSERT INTO api_webhookattempt (delivery_id, number, at, ok, status_code, error,"
        " duration_ms) SELECT delivery_id, number, at, ok, status_code, error, duration_ms"
        f" FROM api_webhookattempt {where}"
    )


def test_the_integrity_checks_find_a_delivered_delivery_without_a_success(queued):
    endpoint, delivery = queued
    for name in (
        "api.webhook_delivered_has_success",
        "api.webhook_attempts_counted",
        "api.webhook_queued_within_position",
    ):
        assert get_check(name).func().count == 0, name
    bypass = Bypass()
    bypass.sql(
        "UPDATE api_webhookdelivery SET status = 'delivered', next_attempt_at = NULL,"
        " delivered_at = created_at, attempts = 3 WHERE id = %s",
        [delivery.pk],
    )
    bypass.sql("UPDATE api_webhookendpoint SET position = 0 WHERE id = %s", [endpoint.pk])
    assert get_check("api.webhook_delivered_has_success").func().sample == [delivery.pk]
    assert get_check("api.webhook_attempts_counted").func().sample == [delivery.pk]
    assert get_check("api.webhook_queued_within_position").func().sample == [delivery.pk]


def test_postgresql_refuses_a_delivered_delivery_without_a_successful_attempt(queued):
    if connection.vendor != "postgresql":
        pytest.skip("a trigger (PostgreSQL); api.webhook_delivered_has_success checks SQLite")
    _, delivery = queued
    with pytest.raises(IntegrityError, match="without a successful attempt"), transaction.atomic():
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql(
            "UPDATE api_webhookdelivery SET status = 'delivered', next_attempt_at = NULL,"
            " delivered_at = created_at WHERE id = %s",
            [delivery.pk],
        )


def test_postgresql_refuses_rewriting_an_attempt(queued):
    if connection.vendor != "postgresql":
        pytest.skip("a trigger (PostgreSQL)")
    _, delivery = queued
    with pytest.raises(IntegrityError, match="never changed"), transaction.atomic():
        sql("UPDATE api_webhookattempt SET error = 'nothing' WHERE delivery_id = %s", [delivery.pk])

"""Webhooks on the dashboard (`/dashboard/api-keys/webhooks/`): the Owner sees every
endpoint and its delivery log and redelivers (a POST with the CSRF token); every other
role is refused, and nothing is written."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from api.actions import create_endpoint, create_key, enqueue_deliveries, record_attempt
from api.models import WebhookDelivery
from dashboard import roles
from events.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def logged_in(role: str) -> Client:
    user = UserFactory(username=f"hooks-{role.lower()}")
    user.groups.add(Group.objects.get(name=role))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.fixture
def failed():
    """An endpoint whose first delivery failed for good (so the endpoint was disabled)."""
    key = create_key(label="hook bot", scopes=["events:read", "webhooks:manage"]).key
    endpoint = create_endpoint(key, url="http://127.0.0.1:9/hook").endpoint
    after = endpoint.position
    body = {"type": "member.registered", "timestamp": None, "seq": after + 1, "data": {}}
    messages = [{"seq": after + 1, "kind": "member.registered", "body": body}]
    enqueue_deliveries(endpoint.pk, after=after, upto=after + 1, messages=messages)
    delivery = WebhookDelivery.objects.get()
    record_attempt(
        delivery.pk,
        at=timezone.now(),
        ok=False,
        status_code=None,
        error="ConnectionError: refused",
        duration_ms=2,
        schedule=[],
    )
    return endpoint, delivery


def test_the_owner_sees_the_log_enables_and_redelivers_with_the_csrf_token(failed):
    endpoint, delivery = failed
    owner = logged_in(roles.OWNER)
    listing = owner.get("/dashboard/api-keys/webhooks/").content.decode()
    assert "http://127.0.0.1:9/hook" in listing
    assert "retries ran out" in listing
    log = owner.get(f"/dashboard/api-keys/webhooks/{endpoint.pk}/")
    page = log.content.decode()
    assert "ConnectionError: refused" in page
    assert f'data-delivery="{delivery.pk}"' in page
    redeliver = f"/dashboard/api-keys/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver"
    assert owner.post(redeliver).status_code == 403  # no CSRF token
    token = CSRF.search(page)[1]
    refused = owner.post(redeliver, {"csrfmiddlewaretoken": token})
    assert refused.status_code == 409
    assert "enable it first" in refused.content.decode()
    enable = f"/dashboard/api-keys/webhooks/{endpoint.pk}/enable"
    assert owner.post(enable, {"csrfmiddlewaretoken": token, "enabled": "1"}).status_code == 302
    assert owner.post(redeliver, {"csrfmiddlewaretoken": token}).status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert Event.objects.get(kind="api.webhook_redelivered").actor_id is not None


@pytest.mark.parametrize("role", [roles.VIEWER, roles.MODERATOR, roles.TREASURER])
def test_other_roles_are_refused_and_nothing_is_written(failed, role):
    endpoint, delivery = failed
    client = logged_in(role)
    client.handler.enforce_csrf_checks = False
    assert client.get("/dashboard/api-keys/webhooks/").status_code == 403
    assert client.get(f"/dashboard/api-keys/webhooks/{endpoint.pk}/").status_code == 403
    enable = client.post(f"/dashboard/api-keys/webhooks/{endpoint.pk}/enable", {"enabled": "1"})
    assert enable.status_code == 403
    redeliver = f"/dashboard/api-keys/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver"
    assert client.post(redeliver).status_code == 403
    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert not endpoint.enabled
    assert delivery.status == "failed"

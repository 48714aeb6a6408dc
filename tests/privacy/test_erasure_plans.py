"""Erasure finds a member's webhook deliveries by index, however many other deliveries
there are, and locks them in the order the webhook writers keep, without stopping the
sender's lease: it runs in one transaction that holds the member's rows."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction

from accounts.actions import erase_member, update_member
from api.actions import create_endpoint, create_key
from api.actions.erasure import deliveries_of
from api.delivery import enqueue
from api.models import WebhookDelivery
from events.models import Event
from tests.factories import MemberFactory
from tests.helpers import sql

pytestmark = pytest.mark.postgres

DELIVERIES = 60_000  # per endpoint: enough that reading them all costs the planner more


@pytest.fixture
def busy_endpoints(db):
    key = create_key(label="bot", scopes=("events:read",)).key
    endpoints = [create_endpoint(key, url=f"http://127.0.0.1:9/hook{n}").endpoint for n in range(2)]
    sql(
        "INSERT INTO api_webhookdelivery (seq, kind, body, status, attempts, round_start,"
        " created_at, endpoint_id)"
        " SELECT s, 'member.updated', '{}', 'failed', 1, 0, now(), e"
        " FROM generate_series(1, %s) s, unnest(%s::bigint[]) e",
        [DELIVERIES, [endpoint.pk for endpoint in endpoints]],
    )
    sql("ANALYZE api_webhookendpoint")
    sql("ANALYZE api_webhookdelivery")
    return endpoints


def test_a_members_deliveries_are_found_by_index_not_by_reading_the_table(busy_endpoints):
    seqs = [5, 20_000, 59_999]
    plan = deliveries_of(seqs).explain()
    assert "Seq Scan on api_webhookdelivery" not in plan, plan
    assert "api_webhookdelivery_once" in plan, plan
    found = sorted(deliveries_of(seqs).values_list("seq", "endpoint_id"))
    assert found == sorted((seq, e.pk) for seq in seqs for e in busy_endpoints)


@pytest.mark.django_db(transaction=True)
def test_the_erasure_holds_the_endpoints_before_the_deliveries_and_lets_the_lease_through(
    officer,
):
    """While `erase_member`'s transaction is open: the member's delivery is locked; its
    endpoint is held FOR KEY SHARE (taken first, the order every writer of deliveries
    keeps: a pruner's FOR UPDATE waits); the sender's lease, an UPDATE of no key, goes
    on at once (the erasure used to lock the endpoint FOR UPDATE, and the lease waited)."""
    key = create_key(label="bot", scopes=("events:read",)).key
    endpoint = create_endpoint(key, url="http://127.0.0.1:9/hook").endpoint
    member = MemberFactory(username="dora")
    update_member(member, display_name="Dora Vale")
    enqueue(endpoint, Event.objects.latest("seq").seq)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).exists()
    params = connection.get_connection_params()
    with transaction.atomic():  # the erasure's transaction, kept open by the test
        erase_member(member, reason="GDPR request", actor=officer)
        with psycopg.connect(**params, autocommit=True) as other:
            other.execute("SET lock_timeout = '2s'")
            other.execute(
                "UPDATE api_webhookendpoint SET leased_until = now() WHERE id = %s",
                [endpoint.pk],
            )
            for held in (
                "SELECT id FROM api_webhookendpoint WHERE id = %s FOR UPDATE NOWAIT",
                "SELECT id FROM api_webhookdelivery WHERE endpoint_id = %s FOR UPDATE NOWAIT",
            ):
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute(held, [endpoint.pk])


def test_the_delivery_table_keeps_one_index_per_use(db):
    """The endpoint's own index is gone (the unique (endpoint, seq) index leads with it)."""
    names = {row[0] for row in sql("SELECT indexname FROM pg_indexes WHERE tablename = %s",
                                   ["api_webhookdelivery"])}  # fmt: skip
    assert "api_webhookdelivery_endpoint_id_0a262f46" not in names
    assert "api_webhookdelivery_once" in names

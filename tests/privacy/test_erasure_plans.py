"""Erasure finds a member's webhook deliveries by index, however many other deliveries
there are, and locks them alone: it runs in one transaction that holds the member's rows,
and the endpoints' lock is the webhook sender's."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction

from api.actions import create_endpoint, create_key
from api.actions.erasure import deliveries_of
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
def test_the_scrub_locks_the_deliveries_and_not_their_endpoints():
    key = create_key(label="bot", scopes=("events:read",)).key
    endpoint = create_endpoint(key, url="http://127.0.0.1:9/hook").endpoint
    sql(
        "INSERT INTO api_webhookdelivery (seq, kind, body, status, attempts, round_start,"
        " created_at, endpoint_id) VALUES (7, 'member.updated', '{}', 'failed', 1, 0, now(), %s)",
        [endpoint.pk],
    )
    params = connection.get_connection_params()
    with transaction.atomic():
        assert [d.pk for d in deliveries_of([7])]
        with psycopg.connect(**params, autocommit=True) as other:
            # The sender's lease (a conditional UPDATE of the endpoint) goes on at once.
            other.execute("SET lock_timeout = '2s'")
            other.execute(
                "UPDATE api_webhookendpoint SET leased_until = now() WHERE id = %s",
                [endpoint.pk],
            )
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT id FROM api_webhookdelivery WHERE seq = 7 FOR UPDATE NOWAIT")


def test_the_delivery_table_keeps_one_index_per_use(db):
    """The endpoint's own index is gone (the unique (endpoint, seq) index leads with it)."""
    names = {row[0] for row in sql("SELECT indexname FROM pg_indexes WHERE tablename = %s",
                                   ["api_webhookdelivery"])}  # fmt: skip
    assert "api_webhookdelivery_endpoint_id_0a262f46" not in names
    assert "api_webhookdelivery_once" in names

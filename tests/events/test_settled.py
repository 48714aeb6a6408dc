"""The publisher waits for this database's running transactions (an event with a lower
seq may still commit) and for nobody else's on the same PostgreSQL server."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

from events import live

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def open_writing_transaction(dbname: str) -> psycopg.Connection:
    """Another client, in a transaction that holds a transaction id (it wrote)."""
    s = connection.settings_dict
    other = psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=dbname,
    )
    other.execute("SELECT pg_current_xact_id()")  # assigns an xid as a write would
    return other


def hold_event(other: psycopg.Connection, kind: str = "test.held", data: str = "{}") -> int:
    """Write an event in `other`'s transaction, not committed: its seq (a gap for now)."""
    (seq,) = other.execute(
        "INSERT INTO events_event (kind, actor_id, subject, data, created_at)"
        " VALUES (%s, NULL, '', %s, now()) RETURNING seq",
        [kind, data],
    ).fetchone()
    return seq


def test_a_running_transaction_of_this_database_is_waited_for():
    other = open_writing_transaction(connection.settings_dict["NAME"])
    try:
        started = time.monotonic()
        assert live.wait_settled(timeout=0.3) is False
        assert time.monotonic() - started >= 0.3
    finally:
        other.rollback()
        other.close()
    assert live.wait_settled(timeout=0.3) is True


def test_a_transaction_in_another_database_of_the_server_is_not_waited_for():
    other = open_writing_transaction("postgres")
    try:
        started = time.monotonic()
        assert live.wait_settled(timeout=2.0) is True
        assert time.monotonic() - started < 0.5
    finally:
        other.rollback()
        other.close()

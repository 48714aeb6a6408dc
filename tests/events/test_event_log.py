from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

import events
from events.exceptions import NotInTransaction
from events.log import register_handler, unregister_handler
from events.models import Event

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_is_refused():
    with pytest.raises(NotInTransaction):
        events.publish("test.happened", {})
    assert Event.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_publish_writes_the_row_and_runs_handlers_after_commit(seen, staff):
    with transaction.atomic():
        event = events.publish("test.happened", {"n": 1}, actor=staff, subject="thing:1")
        assert seen == []  # not before commit
    assert [e.seq for e in seen] == [event.seq]
    stored = Event.objects.get(seq=event.seq)
    assert (stored.kind, stored.data, stored.actor_id, stored.subject) == (
        "test.happened",
        {"n": 1},
        staff.pk,
        "thing:1",
    )


def test_a_rolled_back_transaction_leaves_no_event_and_runs_no_handler(
    seen, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        events.publish("test.happened", {})
        raise RuntimeError("the action failed")
    assert seen == []
    assert Event.objects.count() == 0


def test_one_failing_handler_does_not_stop_the_others(seen, django_capture_on_commit_callbacks):
    def broken(event):
        raise ValueError("boom")

    register_handler(broken)
    try:
        # `broken` runs after `seen`'s handler was registered; register another after it too.
        later: list[int] = []
        register_handler(later_handler := lambda e: later.append(e.seq))
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            event = events.publish("test.happened", {})
    finally:
        unregister_handler(broken)
        unregister_handler(later_handler)
    assert [e.seq for e in seen] == [event.seq]
    assert later == [event.seq]


def test_data_is_stored_as_it_reads_back(django_capture_on_commit_callbacks):
    from datetime import UTC, datetime
    from decimal import Decimal

    with transaction.atomic():
        event = events.publish("t", {"at": datetime(2026, 1, 2, tzinfo=UTC), "d": Decimal("1.5")})
    assert event.data == {"at": "2026-01-02T00:00:00Z", "d": "1.5"}


def test_kind_cannot_be_blank(db):
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_event (kind, subject, data, created_at)"
            " VALUES ('', '', '{}', CURRENT_TIMESTAMP)"
        )


@pytest.fixture
def event(db, seen):
    """A committed event."""
    with transaction.atomic():
        return events.publish("test.happened", {"n": 1})


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events_event SET kind = 'rewritten' WHERE seq = %s",
        "UPDATE events_event SET data = '{\"n\": 2}' WHERE seq = %s",
        "UPDATE events_event SET actor_id = 99 WHERE seq = %s",
        "UPDATE events_event SET subject = subject WHERE seq = %s",  # even changing nothing
        "DELETE FROM events_event WHERE seq = %s",
    ],
)
def test_events_are_append_only(event, statement):
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [event.seq])


def test_with_no_handlers_nothing_follows_the_commit(
    django_capture_on_commit_callbacks, monkeypatch
):
    from events import log as event_log

    monkeypatch.setattr(event_log, "_handlers", [])
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        event = events.publish("test.happened", {})
    assert callbacks == []
    assert Event.objects.filter(seq=event.seq).exists()

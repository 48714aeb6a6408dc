"""The event log's API and its handler registry.

Writing events: inside the caller's transaction (`publish`, or `adopt` for a row an
action's own statement wrote). After commit the writer runs the registered handlers
(`register_handler`; the cache bumps: what a read in the same process needs to see its
own write) and nothing else; the relay (`events.relay`) broadcasts and runs the handlers
again over its batches (`run_batch_handlers`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from events.exceptions import EventsError, NotInTransaction
from events.models import Event
from events.sql import statement

logger = logging.getLogger(__name__)

Handler = Callable[[Event], None]
BatchHandler = Callable[[Sequence[Event]], None]
_handlers: list[Handler] = []


def register_handler(handler: Handler) -> Handler:
    """Run `handler(event)` after each event's transaction commits. Usable as a decorator.

    Register in an AppConfig.ready(), so that every process has the same handlers. Each
    runs twice: in the writing process right after commit (read-your-writes; lost if the
    process dies), and in the relay before the event is broadcast (at least once: a
    relay that dies repeats its last batch). Handlers must tolerate a repeat. One marked
    `batched` runs in the relay once per batch."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def unregister_handler(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def publish(kind: str, data: dict[str, Any], *, actor=None, subject: str = "") -> Event:
    """Record `kind` with `data` in the current transaction; dispatch it after commit.

    Raises `NotInTransaction` outside `transaction.atomic()`: an event written in
    autocommit could describe a change that is later rolled back, or vice versa.
    """
    if not transaction.get_connection().in_atomic_block:
        raise NotInTransaction(f"events.publish({kind!r}) must be called inside a transaction")
    if not kind:
        raise EventsError("an event needs a kind")
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    return _insert(kind, actor_id, subject[:100], data)


# For actions whose own statement writes their event row (one round trip instead of
# two): `INSERT_COLUMNS` is the column list their INSERT ... SELECT fills, in order, and
# `adopt` takes the inserted row over exactly as `publish` would have made it.
INSERT_COLUMNS = "kind, actor_id, subject, data, created_at"


def adopt(*, seq: int, kind: str, actor_id, subject: str, data, created_at) -> Event:
    """The `Event` for a row an action's statement inserted (in the current transaction);
    its handlers run after commit like any published event's."""
    event = Event.written(
        using=transaction.get_connection().alias,
        seq=seq,
        kind=kind,
        actor_id=actor_id,
        subject=subject,
        data=data,
        created_at=created_at,
    )
    if _handlers:
        transaction.on_commit(lambda: run_handlers(event), robust=True)
    return event


def batched(many: BatchHandler) -> Callable[[Handler], Handler]:
    """Mark a handler as able to run once over a batch of committed events, as `many(events)`
    (seq order): the relay runs `many` on each batch before broadcasting it (one round
    trip per batch); the writing process runs the handler for its own event. Raising from
    `many` makes the relay try the batch again."""

    def mark(handler: Handler) -> Handler:
        handler.many = many
        return handler

    return mark


def run_handlers(event: Event) -> bool:
    """After commit, in the writing process: every handler for `event`; one failing stops
    none of the others (the relay runs them again). False if any failed."""
    ok = True
    for handler in list(_handlers):
        try:
            handler(event)
        except Exception:
            ok = False
            logger.exception("event handler %r failed for event %s", handler, event.seq)
    return ok


def run_batch_handlers(events: Sequence[Event]) -> bool:
    """The relay's part: every handler over `events` (seq order), a `batched` one once as
    `many(events)`, any other per event. False if any failed (the relay then tries the
    batch again before broadcasting it)."""
    ok = True
    for handler in list(_handlers):
        many = getattr(handler, "many", None)
        try:
            if many is not None:
                many(events)
            else:
                for event in events:
                    handler(event)
        except Exception:
            ok = False
            logger.exception(
                "event handler %r failed for events %s..%s",
                handler,
                events[0].seq,
                events[-1].seq,
            )
    return ok


_INSERT = statement("event_insert", columns=INSERT_COLUMNS)


def _insert(kind: str, actor_id, subject: str, data: dict[str, Any]) -> Event:
    """One INSERT ... RETURNING: every action publishes, so this is the hottest write.

    The ORM's create() costs several times the CPU of the statement itself here."""
    encoded = json.dumps(data, cls=DjangoJSONEncoder)
    now = timezone.now()
    connection = transaction.get_connection()
    db_now = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [kind, actor_id, subject, encoded, db_now],
        )
        (seq,) = cursor.fetchone()
    # As the row reads back from the JSON column (dates, decimals, UUIDs as strings).
    return adopt(
        seq=seq,
        kind=kind,
        actor_id=actor_id,
        subject=subject,
        data=json.loads(encoded),
        created_at=now,
    )

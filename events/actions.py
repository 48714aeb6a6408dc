"""Writing events: inside the caller's transaction; broadcasting only after commit."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from events import live
from events.exceptions import EventsError, NotInTransaction
from events.models import Event

logger = logging.getLogger(__name__)

Handler = Callable[[Event], None]
BatchHandler = Callable[[Sequence[Event]], None]
_handlers: list[Handler] = []


def register_handler(handler: Handler) -> Handler:
    """Run `handler(event)` after each event's transaction commits. Usable as a decorator.

    Register in an AppConfig.ready(), so that every process has the same handlers. A
    handler marked with `batched` runs in the live layer's publisher thread instead, once
    per batch and before the batch is broadcast."""
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
    # `published_at` means "every post-commit handler has run". With none registered that
    # is true the moment the row commits, so it is written with the row and no second
    # write follows the commit. Handlers are registered in AppConfig.ready(), so every
    # process (web, worker, bot) has the same list.
    return _insert(kind, actor_id, subject[:100], data, published=not handlers_registered())


def handlers_registered() -> bool:
    """Whether committed events have work after commit (else they are written published):
    handlers, or the live layer's broadcast (`CONCORD_LIVE`, on by default)."""
    return bool(_handlers) or live.enabled()


# For actions whose own statement writes their event row (one round trip instead of
# two): `INSERT_COLUMNS` is the column list their INSERT ... SELECT fills, in order, and
# `adopt` takes the inserted row over exactly as `publish` would have made it.
INSERT_COLUMNS = "kind, actor_id, subject, data, created_at, published_at"


def adopt(*, seq: int, kind: str, actor_id, subject: str, data, created_at, published) -> Event:
    """The `Event` for a row an action's statement inserted (in the current transaction);
    dispatched after commit like any published event."""
    event = Event.written(
        using=transaction.get_connection().alias,
        seq=seq,
        kind=kind,
        actor_id=actor_id,
        subject=subject,
        data=data,
        created_at=created_at,
        published_at=created_at if published else None,
    )
    if not published:
        transaction.on_commit(lambda: dispatch(event), robust=True)
    return event


def batched(many: BatchHandler) -> Callable[[Handler], Handler]:
    """Mark a handler as able to run once over a batch of committed events, as `many(events)`
    (seq order). With the live layer on, the publisher thread runs `many` on each batch it
    is about to broadcast, and the writing process only queues the event: what cost a
    round trip per event after every commit costs one per batch, off the writer's path.
    Where events are not broadcast (`CONCORD_LIVE=0`) and in the relay, the handler runs
    per event as any other. Raising from `many` leaves the whole batch unpublished."""

    def mark(handler: Handler) -> Handler:
        handler.many = many
        return handler

    return mark


def run_handlers(event: Event, *, deferred: bool = False) -> bool:
    """Run every handler for a committed event (with `deferred`, only those that do not
    run per batch in the publisher); one failing stops none of the others. False if any
    failed."""
    ok = True
    for handler in list(_handlers):
        if deferred and hasattr(handler, "many"):
            continue
        try:
            handler(event)
        except Exception:
            ok = False
            logger.exception("event handler %r failed for event %s", handler, event.seq)
    return ok


def run_batch_handlers(events: Sequence[Event]) -> bool:
    """The publisher thread's part: every `batched` handler's `many` over `events`. False
    if any failed (the batch is then not broadcast, and the relay delivers it later)."""
    ok = True
    for handler in list(_handlers):
        many = getattr(handler, "many", None)
        if many is None:
            continue
        try:
            many(events)
        except Exception:
            ok = False
            logger.exception(
                "event handler %r failed for events %s..%s",
                handler,
                events[0].seq,
                events[-1].seq,
            )
    return ok


def dispatch(event: Event) -> bool:
    """After commit: run the handlers, then broadcast the event (the live layer marks it
    published once it is sent). If a handler failed the event stays unpublished, for the
    relay to deliver again (handlers must tolerate a repeat: clients dedupe by seq).

    With the live layer on, `batched` handlers run in the publisher thread, over the
    batch, before it is sent: the writer only queues the event."""
    if live.enabled():
        if not run_handlers(event, deferred=True):
            return False
        live.broadcast(event)
        return True
    if not run_handlers(event):
        return False
    try:
        live.mark_published([event.seq])
    except Exception:
        logger.exception("could not mark event %s published; the relay will retry", event.seq)
        return False
    return True


_INSERT = (
    f"INSERT INTO {Event._meta.db_table} ({INSERT_COLUMNS})"
    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq"
)


def _insert(kind: str, actor_id, subject: str, data: dict[str, Any], *, published: bool) -> Event:
    """One INSERT ... RETURNING: every action publishes, so this is the hottest write.

    The ORM's create() costs several times the CPU of the statement itself here."""
    encoded = json.dumps(data, cls=DjangoJSONEncoder)
    now = timezone.now()
    connection = transaction.get_connection()
    db_now = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [kind, actor_id, subject, encoded, db_now, db_now if published else None],
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
        published=published,
    )

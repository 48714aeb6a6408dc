"""Writing events: inside the caller's transaction; broadcasting only after commit."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from events.exceptions import EventsError, NotInTransaction
from events.models import Event

logger = logging.getLogger(__name__)

Handler = Callable[[Event], None]
_handlers: list[Handler] = []


def register_handler(handler: Handler) -> Handler:
    """Run `handler(event)` after each event's transaction commits. Usable as a decorator."""
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
    event = Event.objects.create(
        kind=kind, actor_id=actor_id, subject=subject[:100], data=_jsonable(data)
    )
    transaction.on_commit(lambda: dispatch(event), robust=True)
    return event


def dispatch(event: Event) -> None:
    """Run every handler for a committed event (one failing handler stops none of the
    others), then mark the event published."""
    for handler in list(_handlers):
        try:
            handler(event)
        except Exception:
            logger.exception("event handler %r failed for event %s", handler, event.seq)
    try:
        Event.objects.filter(seq=event.seq, published_at__isnull=True).update(
            published_at=timezone.now()
        )
    except Exception:
        logger.exception("could not mark event %s published; the relay will retry", event.seq)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """Data as it will read back from the JSON column (dates, decimals, UUIDs as strings)."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))

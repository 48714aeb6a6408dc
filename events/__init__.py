"""The event log: the lowest layer of Concord.

`publish(kind, data, *, actor=None, subject="")` writes an `Event` row inside the caller's
transaction; after commit the registered handlers run (`register_handler`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from events.models import Event


def publish(kind: str, data: dict[str, Any], *, actor=None, subject: str = "") -> Event:
    from events.log import publish as _publish

    return _publish(kind, data, actor=actor, subject=subject)


def register_handler(handler):
    from events.log import register_handler as _register

    return _register(handler)

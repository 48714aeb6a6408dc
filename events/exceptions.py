from __future__ import annotations

from config.errors import Refusal


class EventsError(Refusal):
    """Base error of the event log."""


class NotInTransaction(EventsError):
    """publish() was called outside a transaction: the event could outlive a rolled-back write."""


class UnknownEventKind(EventsError):
    """An event kind no app has declared a schema for (`events.payloads.schema`)."""


class InvalidPayload(EventsError):
    """An event's data does not match its kind's schema."""

    def __init__(self, kind: str, problems: list[str]):
        self.kind, self.problems = kind, problems
        super().__init__(f"{kind}: " + "; ".join(problems))

from __future__ import annotations


class EventsError(Exception):
    """Base error of the event log."""


class NotInTransaction(EventsError):
    """publish() was called outside a transaction: the event could outlive a rolled-back write."""

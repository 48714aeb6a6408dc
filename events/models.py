from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

from events.sql import refuse


class Event(models.Model):
    """One committed change. Append-only; `seq` increases with each insert.

    Written by `events.publish()` inside the action's transaction, so an event exists if
    and only if its change committed. Nothing ever changes it: how far the live layer has
    got is the relay's position (`RelayPosition`), not a mark on each row.
    """

    seq = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,  # the log outlives staff accounts: the actor id stays as written
    )
    # Indexed in Meta (a field's db_index would add a second, LIKE-pattern index on
    # PostgreSQL that nothing queries, written on every insert and publish).
    subject = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["subject"], name="events_event_subject"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(kind=""), name="events_event_kind_not_blank"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="events_event_append_only",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=refuse("events are append-only: % of event % refused", "TG_OP", "OLD.seq"),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"

    @classmethod
    def written(cls, *, using: str, **fields) -> Event:
        """The `Event` for a row already in the log (inserted by a statement of our own),
        as if loaded from database `using`."""
        event = cls(**fields)
        event._state.adding = False
        event._state.db = using
        return event


class RelayPosition(models.Model):
    """How far the relay (`events.relay`, `manage.py run_relay`) has got: every event up to
    `seq` has had its batch handlers run and been broadcast. One row per relay name (one
    relay works per database). Written after each broadcast, so a relay that dies
    re-broadcasts at most its last batch (receivers drop a seq they have delivered); its
    lag, for /healthz and the integrity report, is the log above it."""

    name = models.CharField(max_length=32, primary_key=True)
    seq = models.BigIntegerField()
    moved_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(seq__gte=0), name="events_relayposition_seq_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} at #{self.seq}"

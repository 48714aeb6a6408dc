from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q


class Event(models.Model):
    """One committed change. Append-only; `seq` increases with each insert.

    Written by `events.publish()` inside the action's transaction, so an event exists if
    and only if its change committed. `published_at` is the only field that ever changes:
    it is set once the post-commit handlers have run (the live issue's relay republishes
    rows still unset).
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
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["subject"], name="events_event_subject"),
            # The relay's scan for events whose post-commit handlers have not run yet.
            models.Index(
                fields=["seq"],
                condition=Q(published_at__isnull=True),
                name="events_event_unpublished",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(kind=""), name="events_event_kind_not_blank"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="events_event_append_only",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func="""
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION 'events are append-only: DELETE of event % refused', OLD.seq
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                IF (NEW.seq, NEW.kind, NEW.actor_id, NEW.subject, NEW.data, NEW.created_at)
                   IS DISTINCT FROM
                   (OLD.seq, OLD.kind, OLD.actor_id, OLD.subject, OLD.data, OLD.created_at)
                THEN
                    RAISE EXCEPTION
                        'events are append-only: only published_at may change (event %)',
                        OLD.seq
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                IF OLD.published_at IS NOT NULL
                   AND NEW.published_at IS DISTINCT FROM OLD.published_at THEN
                    RAISE EXCEPTION 'event % is already published', OLD.seq
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"

    @classmethod
    def written(cls, *, using: str, published_at=None, **fields) -> Event:
        """The `Event` for a row already in the log (inserted by a statement of our own, or
        received from another process), as if loaded from database `using`."""
        event = cls(published_at=published_at, **fields)
        event._state.adding = False
        event._state.db = using
        return event

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from events.sql import refuse, statement


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
                # Refuses every change but archiving's delete and an erasure's scrub of
                # `data` (the file says which and how).
                func=statement("event_append_only.pg"),
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


class Archive(models.Model):
    """A range of the log written to a file and then removed from the table
    (`events.archive`, `manage.py archive_events`). The row is written in the transaction
    that deletes the events, after the file: the append-only trigger lets a row go only
    when an archive covers it and it is older than `before`. Never changed or removed."""

    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    before = models.DateTimeField(help_text="Only events created before this were archived.")
    rows = models.PositiveBigIntegerField()
    file = models.CharField(max_length=255, help_text="The file's name in the archive folder.")
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(first_seq__lte=F("last_seq")), name="events_archive_range_ordered"
            ),
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}\Z"), name="events_archive_sha256_hex"
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="events_archive_append_only",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=refuse("archives are kept: % of archive % refused", "TG_OP", "OLD.id"),
            ),
        ]

    def __str__(self) -> str:
        return f"events #{self.first_seq}..#{self.last_seq} in {self.file}"

"""SQLite's `config.changed` (config/history.py says why): PostgreSQL's history triggers
write the event there; SQLite has none, so the ORM's signals publish it for every tracked
model (connected by `LedgerConfig.ready()`, once every app's models are loaded). Changes
made with raw SQL or `QuerySet.update()` are not seen on SQLite."""

from __future__ import annotations

import contextlib
import threading

from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save, pre_save

import events
from config.db import Ref
from config.history import acting_user_id, tracked_fields, tracked_models
from ledger import payloads

_seeding = threading.local()


@contextlib.contextmanager
def seeding():
    """Writes inside publish no `config.changed` (SQLite's half of what
    `pgtrigger.ignore` does for the trigger in `create_default_currencies`)."""
    _seeding.on = True
    try:
        yield
    finally:
        _seeding.on = False


def _remember_old(sender, instance, raw=False, **kwargs):
    if connection.vendor == "postgresql" or raw or instance.pk is None:
        return
    fields = tracked_fields(sender)
    instance._config_old = sender.objects.filter(pk=instance.pk).values(*fields).first()


def _publish_saved(sender, instance, created, raw=False, **kwargs):
    if connection.vendor == "postgresql" or raw or getattr(_seeding, "on", False):
        return
    old = getattr(instance, "_config_old", None)
    fields = tracked_fields(sender)
    changed = [f for f in fields if old is None or old.get(f) != getattr(instance, f)]
    if not created and not changed:
        return
    _publish_change(sender, instance.pk, "insert" if created else "update", sorted(changed))


def _publish_deleted(sender, instance, **kwargs):
    if connection.vendor != "postgresql":
        _publish_change(sender, instance.pk, "delete", [])


def _publish_change(model, pk, operation: str, fields: list[str]) -> None:
    """`config.changed` for an ORM write on SQLite; in its transaction when it has one,
    else right after it (`version` 0: there is no history row)."""
    label = model._meta.label_lower
    with transaction.atomic():
        events.publish(
            "config.changed",
            payloads.config_changed(model=label, pk=pk, operation=operation, fields=fields),
            actor=Ref(actor_id) if (actor_id := acting_user_id()) else None,
            subject=f"{label}:{pk}",
        )


def connect_signal_fallback() -> None:
    """Connect the SQLite fallback for every tracked model (called once, from ready())."""
    for model in tracked_models().values():
        pre_save.connect(_remember_old, sender=model, dispatch_uid=f"config-old-{model}")
        post_save.connect(_publish_saved, sender=model, dispatch_uid=f"config-saved-{model}")
        post_delete.connect(_publish_deleted, sender=model, dispatch_uid=f"config-del-{model}")

"""History of configuration rows: who changed what, when, from what to what.

Configuration-like rows (currencies and their bonuses, achievements and thresholds,
stories, chapters and choices, tournament settings) are decorated with `track(...)`:
django-pghistory generates a history model beside each (`ledger.CurrencyEvent`, ...) and,
on PostgreSQL, triggers that write a snapshot of the row into it on every insert, update
and delete, whoever wrote it, the ORM or raw SQL. An AFTER INSERT trigger on each
history table calls `config_changed()` (ledger/sql/config_changed.pg.sql), which writes
the `config.changed` event (model, pk, operation, the names of the fields that changed,
the history row's id; never values) in the same transaction.

Who: `acting(user)` puts the staff user into pghistory's context (one transaction-local
setting the history triggers and `config_changed()` read); `HistoryMiddleware` does it for
the admin's and the dashboard's writes.

SQLite (embedded defaults) has no triggers: there is no history there, and the
`config.changed` event of a change made through the ORM is published by the
`post_save`/`post_delete` receivers of `ledger.history` (changes made with raw SQL or
`QuerySet.update()` go unrecorded). docs/ARCHITECTURE.md, "History of configuration".
"""

from __future__ import annotations

import contextlib

import pghistory
import pgtrigger
from django.db import connection, transaction

from config.errors import Refusal
from events.sql import refuse

OPERATIONS = ("insert", "update", "delete")


def _history_triggers(label: str) -> list[pgtrigger.Trigger]:
    return [
        pgtrigger.Trigger(
            name="config_changed",
            when=pgtrigger.After,
            operation=pgtrigger.Insert,
            func=f"PERFORM config_changed(TG_TABLE_NAME::text, '{label}', to_jsonb(NEW));"
            " RETURN NULL;",
        ),
        pgtrigger.Trigger(
            name="history_append_only",
            when=pgtrigger.Before,
            operation=pgtrigger.Update | pgtrigger.Delete,
            func=refuse("history is append-only: % of version % refused", "TG_OP", "OLD.pgh_id"),
        ),
    ]


def track(*, fields: list[str] | None = None, exclude: list[str] | None = None):
    """Keep the history of the decorated model's `fields` (all but `exclude`), and make
    each change a `config.changed` event."""

    def decorate(model):
        label = model._meta.label_lower
        tracked = pghistory.track(
            pghistory.InsertEvent(),
            pghistory.UpdateEvent(),
            pghistory.DeleteEvent(),
            fields=fields,
            exclude=exclude,
            obj_field=pghistory.ObjForeignKey(related_name="versions"),
            append_only=False,  # our own trigger below refuses as IntegrityError
            model_name=f"{model.__name__}Event",
            meta={"triggers": _history_triggers(label)},
        )(model)
        _TRACKED[label] = tracked
        return tracked

    return decorate


_TRACKED: dict[str, type] = {}


def tracked_models() -> dict[str, type]:
    """model label ("ledger.currency") -> model, for every model `track` decorated."""
    return dict(_TRACKED)


def history_model(model):
    """The pghistory model holding `model`'s snapshots (`ledger.CurrencyEvent`)."""
    return model.versions.field.model


def tracked_fields(model) -> list[str]:
    """The fields of `model` its history snapshots (attribute names: `currency_id`)."""
    history = history_model(model)
    names = {field.attname for field in model._meta.concrete_fields}
    return [
        field.attname
        for field in history._meta.concrete_fields
        if field.attname in names and not field.name.startswith("pgh_")
    ]


@contextlib.contextmanager
def acting(user):
    """Attribute the history written inside to `user` (a staff `User`, or None). On
    PostgreSQL it is pghistory's context (sent before each writing statement); elsewhere
    there are no history triggers and it only marks who acts for the signal fallback."""
    user_id = getattr(user, "pk", None)
    previous = getattr(_acting, "user_id", None)
    _acting.user_id = user_id
    try:
        if connection.vendor == "postgresql" and user_id is not None:
            with pghistory.context(user=user_id):
                yield
        else:
            yield
    finally:
        _acting.user_id = previous


class _Acting:
    user_id: int | None = None


_acting = _Acting()


def acting_user_id() -> int | None:
    """The id of the user `acting` names now (None outside it)."""
    return _acting.user_id


class HistoryMiddleware:
    """Attributes the history of the admin's and the dashboard's writes to the signed-in
    staff user. Only there: elsewhere (the Bot API's hot writes) no configuration changes,
    and pghistory would add a statement to every write."""

    PATHS = ("/admin/", "/dashboard/")
    METHODS = ("POST", "PUT", "PATCH", "DELETE")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in self.METHODS and request.path.startswith(self.PATHS):
            user = getattr(request, "user", None)
            with acting(user if user is not None and user.is_authenticated else None):
                return self.get_response(request)
        return self.get_response(request)


# --- reverting ---------------------------------------------------------------------


class HistoryError(Refusal):
    """Base error of configuration history: a revert refused, nothing written."""


class UnknownVersion(HistoryError):
    """No such history row (or history is not kept: SQLite)."""


class VersionOfDeletedRow(HistoryError):
    """The row is gone; a revert restores fields of a row that exists."""


@transaction.atomic
def revert_to_version(model, version_id: int, *, actor) -> list[str]:
    """Set the tracked fields of the row history row `version_id` of `model` describes
    back to that snapshot, as `actor`; return the fields changed (none: nothing written).

    The row is locked first; the write goes through the ORM (`save(update_fields=...)`),
    so the history triggers record it as a new version and write its `config.changed`
    event, naming `actor`, in this transaction."""
    history = history_model(model)
    version = history.objects.filter(pgh_id=version_id).first()
    if version is None:
        raise UnknownVersion(f"{model._meta.label} has no version {version_id}")
    if version.pgh_label == "delete":
        raise VersionOfDeletedRow(f"version {version_id} records a deletion")
    obj = model.objects.select_for_update().filter(pk=version.pgh_obj_id).first()
    if obj is None:
        raise VersionOfDeletedRow(
            f"{model._meta.label} {version.pgh_obj_id} no longer exists; it cannot be reverted"
        )
    changed = [
        name for name in tracked_fields(model) if getattr(obj, name) != getattr(version, name)
    ]
    for name in changed:
        setattr(obj, name, getattr(version, name))
    if changed:
        with acting(actor):
            obj.save(update_fields=changed)
    return changed


def baseline(app_label: str, model_name: str):
    """A migration operation writing the current rows of a newly tracked model as their
    first version ('baseline'), so its first change names only the fields it changed
    and can be reverted (PostgreSQL; SQLite keeps no history)."""
    from django.db import migrations

    from ledger.sql import statement

    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        model = apps.get_model(app_label, model_name)
        history = apps.get_model(app_label, f"{model_name}Event")
        names = {f.column for f in model._meta.concrete_fields}
        columns = ", ".join(f.column for f in history._meta.concrete_fields if f.column in names)
        schema_editor.execute(
            statement(
                "history_baseline.pg",
                history=history._meta.db_table,
                tracked=model._meta.db_table,
                columns=columns,
            )
        )

    return migrations.RunPython(run, migrations.RunPython.noop)


def rows_unlike_their_history(model) -> tuple[int, list[int]]:
    """(count, up to 10 ids) of `model`'s rows whose tracked fields differ from their latest
    version, or that have none: changed with the history triggers off (a restore with
    `session_replication_role = replica`, a trigger dropped). PostgreSQL only (SQLite
    keeps no history): elsewhere (0, [])."""
    if connection.vendor != "postgresql":
        return 0, []
    history = history_model(model)
    columns = [
        model._meta.get_field(name).column
        for name in [f.name for f in model._meta.concrete_fields]
        if model._meta.get_field(name).attname in tracked_fields(model)
    ]
    pairs = " OR ".join(f"t.{c} IS DISTINCT FROM h.{c}" for c in columns)
    query = f"""
        SELECT t.id FROM {model._meta.db_table} t
          LEFT JOIN LATERAL (
              SELECT * FROM {history._meta.db_table} v
               WHERE v.pgh_obj_id = t.id ORDER BY v.pgh_id DESC LIMIT 1
          ) h ON true
         WHERE h.pgh_id IS NULL OR h.pgh_label = 'delete' OR {pairs}
         ORDER BY t.id
    """
    with connection.cursor() as cursor:
        cursor.execute(query)
        ids = [row[0] for row in cursor.fetchall()]
    return len(ids), ids[:10]

"""One schema per event kind: what an event's `data` holds, on every backend.

Why: an event's data is read by the dashboard's feed, the overlays, bots on /ws/stream/
and tests, and the hot actions write it twice over: from one raw statement on PostgreSQL
(`jsonb_build_object` in the statement that writes the rows) and from Python on SQLite.
Written as two dict literals, the two could drift apart (a key on one backend only, a
number on one and a string on the other) and nothing would say so. So each kind's data is
defined once, as zulip's `event_schema.py` defines every `send_event`:

- each app's `payloads.py` declares a `TypedDict` per kind (or per small family of kinds),
  registered here with `@schema("app.kind", ...)`, and a builder function returning it;
  every `events.publish` of the app passes what a builder made;
- a statement that writes its own event row builds its JSON with `sql_object(Schema, ...)`,
  which refuses, when the module is imported, any key set other than the schema's;
- `check(kind, data)` validates data against its schema: every required key, no other
  key, and each value's JSON type (an int is not a bool, `int | None` allows null, nested
  lists, dicts and TypedDicts). tests/events/test_payload_contract.py runs every action
  on the backend under test and checks each event it wrote, so the PostgreSQL statements
  and the SQLite path are held to the same schema.

Schemas describe data as it reads back from the log: JSON values only (a time is the ISO
string `DjangoJSONEncoder` writes, which `instant` makes).

`events` is the lowest layer and imports no app: `EventsConfig.ready()` imports each
installed app's `payloads` module, which registers its kinds (as admin.py registers
ModelAdmins).
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from functools import cache
from typing import Any, Literal, NotRequired, Required, TypedDict, Union

from django.core.serializers.json import DjangoJSONEncoder

from events.exceptions import InvalidPayload, UnknownEventKind

_schemas: dict[str, type] = {}


def schema(*kinds: str):
    """Register the decorated `TypedDict` as the data of each of `kinds`."""

    def register(typed_dict: type) -> type:
        if not typing.is_typeddict(typed_dict):
            raise TypeError(f"{typed_dict!r} is not a TypedDict")
        for kind in kinds:
            existing = _schemas.get(kind)
            # The same class imported again (autoreload) is the same schema.
            if existing is not None and existing.__qualname__ != typed_dict.__qualname__:
                raise ValueError(f"event kind {kind!r} has two schemas")
            _schemas[kind] = typed_dict
        return typed_dict

    return register


def kinds() -> list[str]:
    """Every kind with a schema, sorted."""
    return sorted(_schemas)


def schema_of(kind: str) -> type:
    try:
        return _schemas[kind]
    except KeyError:
        raise UnknownEventKind(f"event kind {kind!r} has no schema (see events.payloads)") from None


def check(kind: str, data) -> None:
    """Raise `InvalidPayload` listing what in `data` does not match `kind`'s schema
    (`UnknownEventKind` if it has none)."""
    found = problems(schema_of(kind), data)
    if found:
        raise InvalidPayload(kind, found)


def problems(typed_dict: type, data) -> list[str]:
    """What in `data` does not match `typed_dict`, one line each (empty: it matches)."""
    found: list[str] = []
    _check(typed_dict, data, "data", found)
    return found


def instant(value: datetime | date | None) -> str | None:
    """A datetime or date as events store it: the string `DjangoJSONEncoder` writes
    (milliseconds, `Z` for UTC), so building it here changes no stored byte."""
    return None if value is None else _ENCODER.default(value)


_ENCODER = DjangoJSONEncoder()


def sql_object(typed_dict: type, **expressions: str) -> str:
    """`jsonb_build_object(...)` for a statement that writes `typed_dict`'s data itself:
    one SQL expression per key. Raises `TypeError` (at import of the module that calls
    it) unless the keys are exactly the schema's, so the statement cannot leave a key out
    or add one; the values' types are held by the contract test on PostgreSQL. The
    schema may also be a pydantic (ninja) model: an API answer built in SQL
    (`api.routes.ledger.TRANSFER_ANSWER`, held by tests/api/test_one_statement.py)."""
    if hasattr(typed_dict, "model_fields"):
        fields = typed_dict.model_fields
        hints, required = fields, {key for key, field in fields.items() if field.is_required()}
    else:
        hints, required = _fields(typed_dict)
    missing = sorted(required - expressions.keys())
    extra = sorted(expressions.keys() - hints.keys())
    if missing or extra:
        raise TypeError(
            f"sql_object({typed_dict.__name__}): "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"not in the schema: {', '.join(extra)}" if extra else "",
                )
                if part
            )
        )
    pairs = ", ".join(f"'{key}', {expression}" for key, expression in expressions.items())
    return f"jsonb_build_object({pairs})"


# --- the validator -----------------------------------------------------------------------


@cache
def _fields(typed_dict: type) -> tuple[dict[str, Any], frozenset[str]]:
    """(key -> type, required keys). With `from __future__ import annotations` Python
    3.11 does not see `NotRequired[...]` when it computes `__required_keys__`, so the
    wrappers are read from the hints themselves."""
    hints = typing.get_type_hints(typed_dict, include_extras=True)
    required: set[str] = set()
    plain: dict[str, Any] = {}
    for key, hint in hints.items():
        origin = typing.get_origin(hint)
        total = key in typed_dict.__required_keys__
        if origin is Required or (total and origin is not NotRequired):
            required.add(key)
        if origin in (Required, NotRequired):
            hint = typing.get_args(hint)[0]
        plain[key] = hint
    return plain, frozenset(required)


def _name(expected) -> str:
    if expected is type(None):
        return "null"
    if isinstance(expected, type):
        return expected.__name__
    return str(expected).replace("typing.", "")


def _check(expected, value, path: str, found: list[str]) -> None:
    origin = typing.get_origin(expected)
    if expected is Any:
        return
    if typing.is_typeddict(expected):
        if not isinstance(value, dict):
            found.append(f"{path}: expected an object ({expected.__name__}), got {value!r}")
            return
        hints, required = _fields(expected)
        for key in sorted(required - value.keys()):
            found.append(f"{path}: missing key {key!r}")
        for key in sorted(value.keys() - hints.keys(), key=str):
            found.append(f"{path}: unexpected key {key!r}")
        for key, hint in hints.items():
            if key in value:
                _check(hint, value[key], f"{path}.{key}", found)
        return
    if origin in (Union, types.UnionType):
        for option in typing.get_args(expected):
            attempt: list[str] = []
            _check(option, value, path, attempt)
            if not attempt:
                return
        found.append(f"{path}: expected {_name(expected)}, got {value!r}")
        return
    if origin is Literal:
        # `True == 1`: compare types as well as values.
        if not any(
            type(value) is type(option) and value == option for option in typing.get_args(expected)
        ):
            found.append(f"{path}: expected {_name(expected)}, got {value!r}")
        return
    if origin is list:
        if not isinstance(value, list):
            found.append(f"{path}: expected a list, got {value!r}")
            return
        (item,) = typing.get_args(expected)
        for index, element in enumerate(value):
            _check(item, element, f"{path}[{index}]", found)
        return
    if origin is dict:
        if not isinstance(value, dict):
            found.append(f"{path}: expected an object, got {value!r}")
            return
        key_type, item = typing.get_args(expected)
        for key, element in value.items():
            _check(key_type, key, f"{path} key {key!r}", found)
            _check(item, element, f"{path}[{key!r}]", found)
        return
    if expected is type(None) or expected is None:
        if value is not None:
            found.append(f"{path}: expected null, got {value!r}")
        return
    if expected is bool or expected is int:
        # bool is an int in Python, not in JSON: each is only itself.
        if type(value) is not expected:
            found.append(f"{path}: expected {expected.__name__}, got {value!r}")
        return
    if expected is float:
        if type(value) not in (int, float):
            found.append(f"{path}: expected a number, got {value!r}")
        return
    if expected is str:
        if not isinstance(value, str):
            found.append(f"{path}: expected str, got {value!r}")
        return
    raise TypeError(f"{path}: events.payloads cannot check {expected!r} (JSON types only)")


@schema("events.archived")
class EventsArchived(TypedDict):
    """Events up to `last_seq` moved to the file `file` (events.archive)."""

    first_seq: int
    last_seq: int
    rows: int
    file: str
    sha256: str


def events_archived(
    *, first_seq: int, last_seq: int, rows: int, file: str, sha256: str
) -> EventsArchived:
    return {
        "first_seq": first_seq,
        "last_seq": last_seq,
        "rows": rows,
        "file": file,
        "sha256": sha256,
    }

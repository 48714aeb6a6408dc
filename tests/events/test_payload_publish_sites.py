"""Every `publish(` in the apps' code, read with `ast`: it builds its data with a payload
builder and names a kind with a schema (`events.payloads`); every statement that writes
its own event builds the data from a schema."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from events import payloads

pytestmark = pytest.mark.django_db

# --- every publish in the apps' code goes through a schema ------------------------------

APPS = (
    "accounts",
    "ledger",
    "tournaments",
    "narrative",
    "dashboard",
    "integrity",
    "api",
    "ops",
    "config",
)
ROOT = Path(__file__).resolve().parents[2]


def _modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                yield module, ast.parse(path.read_text(), filename=str(path))


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _argument(call: ast.Call, position: int, name: str):
    if 0 <= position < len(call.args):
        return call.args[position]
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _kind_of(node, module: str) -> str | None:
    """A kind the code spells out: a literal, or a module-level constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        value = getattr(importlib.import_module(module), node.id, None)
        return value if isinstance(value, str) else None
    return None


def publish_sites():
    """Every call of `publish` in the apps' modules, and of the apps' wrappers around it
    (a function passing one of its parameters on as the data), as
    (where, module, call, kind position, data position)."""
    trees = list(_modules())
    publishers = {"publish": (0, "kind", 1, "data")}
    sites, seen = [], set()
    while True:
        found = False
        for module, tree in trees:
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                params = [a.arg for a in function.args.posonlyargs + function.args.args]
                for call in ast.walk(function):
                    if not isinstance(call, ast.Call) or _called(call) not in publishers:
                        continue
                    if function.name in publishers:
                        continue  # a wrapper's own call of what it wraps
                    kind_at, kind_name, data_at, data_name = publishers[_called(call)]
                    data = _argument(call, data_at, data_name)
                    where = f"{module}:{call.lineno}"
                    if isinstance(data, ast.Name) and data.id in params:
                        kind = _argument(call, kind_at, kind_name)
                        kind_param = kind.id if isinstance(kind, ast.Name) else None
                        publishers[function.name] = (
                            params.index(kind_param) if kind_param in params else -1,
                            kind_param or "",
                            params.index(data.id),
                            data.id,
                        )
                        found = True
                    elif where not in seen:
                        seen.add(where)
                        sites.append((where, module, call, kind_at, kind_name, data_at, data_name))
        if not found:
            return sites


def test_every_publish_builds_its_data_with_a_payload_builder_for_a_kind_with_a_schema():
    """Each `events.publish` (or an app's wrapper of it) is given a builder's result,
    `payloads.<builder>(...)`; where the kind is spelled out it has a schema, and that
    schema is what the builder returns."""
    checked = 0
    for where, module, call, kind_at, kind_name, data_at, data_name in publish_sites():
        data = _argument(call, data_at, data_name)
        assert isinstance(data, ast.Call), f"{where}: data is not built by a payload builder"
        builder = data.func
        named = isinstance(builder, ast.Attribute) and isinstance(builder.value, ast.Name)
        assert named, f"{where}: data is not built by `payloads.<builder>(...)`"
        assert builder.value.id == "payloads", f"{where}: data is not built by `payloads.<...>`"
        app_payloads = importlib.import_module(f"{module.split('.')[0]}.payloads")
        returns = inspect.signature(getattr(app_payloads, builder.attr)).return_annotation
        kind = _kind_of(_argument(call, kind_at, kind_name), module) if kind_at >= 0 else None
        if kind is not None:
            assert returns == payloads.schema_of(kind).__name__, (
                f"{where}: {kind} is built by {builder.attr}"
            )
        checked += 1
    assert checked >= 25


def test_every_statement_writing_its_own_event_builds_the_data_from_a_schema():
    """A module whose statement inserts its event row (and hands it to `adopt`) builds
    that row's JSON with `sql_object(<schema>, ...)`, and names a kind with a schema."""
    adopting = 0
    for module, tree in _modules():
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
        adopts = [call for call in calls if _called(call) == "adopt"]
        if not adopts:
            continue
        assert any(_called(call) == "sql_object" for call in calls), (
            f"{module} writes its own event rows without sql_object"
        )
        for call in adopts:
            kind = _kind_of(_argument(call, -1, "kind"), module)
            if kind is not None:
                payloads.schema_of(kind)
            adopting += 1
    assert adopting >= 3  # transfers, registrations, decisions

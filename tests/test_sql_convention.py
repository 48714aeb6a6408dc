"""One convention for the SQL Concord writes by hand (docs/ARCHITECTURE.md, "SQL").

- Tables are named as Django names them, `<app>_<model>`, never overridden, so a
  statement names them literally and `grep ledger_account` finds every one.
- An app's hand-written statements live in its `sql/` folder, one statement or shared
  fragment a file (`config.sqlfiles`): no INSERT, UPDATE or DELETE is written in Python
  elsewhere. Read models (`queries.py`) and integrity checks
  (`integrity.py`) keep their SELECTs beside their names, the query being the check;
  migrations keep theirs (frozen history).
- Every table a `.sql` file names exists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# Our apps (those under the repository, not Django's or a library's), and config.
APPS = ("config", *(a.label for a in apps.get_app_configs() if Path(a.path).parent == ROOT))
WRITES = re.compile(r"\b(INSERT INTO \w|UPDATE \w+ (\w+ )?SET\b|DELETE FROM \w)")
NAMED = re.compile(
    r"(?<!DO )\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_][a-z0-9_]*)\b(?!\s*\()", re.IGNORECASE
)
DECLARED = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s+[a-z]", re.MULTILINE)  # PL/pgSQL variables
CTE = re.compile(r"\b([a-z_][a-z0-9_]*)\s+AS\s*\(", re.IGNORECASE)


def our_python() -> list[Path]:
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "migrations" in parts or "sql" in parts:
                continue
            found.append(path)
    return found


def sql_files() -> list[Path]:
    return sorted(p for app in APPS for p in (ROOT / app).rglob("*.sql"))


def test_every_table_is_named_as_django_names_it():
    odd = [
        f"{model.__name__}: {model._meta.db_table}"
        for model in apps.get_models()
        if model._meta.app_label in APPS
        and not model._meta.proxy  # a proxy has no table (payments.ReadingHold: ledger_hold)
        and model._meta.db_table != f"{model._meta.app_label}_{model._meta.model_name}"
    ]
    assert not odd, odd


def _string_start(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def test_write_statements_live_in_sql_folders():
    found = []
    for path in our_python():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            text = _string_start(node)
            if text is not None and id(node) not in docstrings and WRITES.search(text):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text.strip()[:60]}")
    assert not found, "write statements outside an app's sql/ folder:\n" + "\n".join(found)


@pytest.mark.django_db
def test_sql_files_name_only_tables_that_exist():
    tables = set(connection.introspection.table_names()) | {"sqlite_sequence"}
    texts = {path: path.read_text(encoding="utf-8") for path in sql_files()}
    ctes = {name.lower() for text in texts.values() for name in CTE.findall(text)}
    unknown = []
    for path, text in texts.items():
        code = re.sub(r"--[^\n]*", "", text)
        declared = DECLARED.findall("".join(re.findall(r"DECLARE(.*?)BEGIN", code, re.S)))
        for name in NAMED.findall(code):
            if name.lower() not in tables | ctes | {d.lower() for d in declared}:
                unknown.append(f"{path.relative_to(ROOT)}: {name}")
    assert texts, "no .sql files found"
    assert not unknown, unknown


def test_the_convention_would_catch_a_typo(tmp_path):
    """The table check reads names the way a typo would show."""
    assert NAMED.findall("SELECT 1 FROM ledger_acount a JOIN x ON true") == ["ledger_acount", "x"]
    assert NAMED.findall("SELECT nextval(s) FROM generate_series(1, 3)") == []

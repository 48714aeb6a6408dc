"""Small test helpers shared across apps."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import traceback
from collections.abc import Callable
from datetime import datetime
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import IntegrityError, connection, connections, transaction

# The apps whose tables a refused write must leave as they were.
DOMAIN_APPS = ("accounts", "events", "ledger", "narrative", "payments", "tournaments")


def table_contents(*app_labels: str) -> dict[str, list[dict]]:
    """Every row of these apps' tables, in key order: compare before and after an action
    to prove it wrote nothing (no insert, update or delete). For test-sized data."""
    labels = app_labels or ("accounts", "events")
    return {
        model._meta.db_table: list(model._base_manager.order_by("pk").values())
        for label in labels
        for model in apps.get_app_config(label).get_models()
    }


def refused_writing_nothing(error: type[Exception], run: Callable[[], object]) -> Exception:
    """`run()` raises `error`, and every table of the domain apps reads back as before."""
    before = table_contents(*DOMAIN_APPS)
    with pytest.raises(error) as raised:
        run()
    assert table_contents(*DOMAIN_APPS) == before
    return raised.value


def refused(
    statement: str, params=(), *, constraint: str = "", unique: bool = False, says: str = ""
) -> None:
    """Raw SQL that the database refuses (IntegrityError), writing nothing: every table of
    the domain apps reads back as before.

    `constraint` names the rule: on PostgreSQL the constraint's name (exactly, where the
    error carries one) or a trigger's message (contained); on SQLite the CHECK constraint
    named in its message, or with `unique` a UNIQUE failure (SQLite lists the columns
    instead). `says`: a trigger's message contains this, on either backend. On
    PostgreSQL what the fixtures wrote is checked first (as their commit would), and the
    deferred triggers fire at the end of the statement under test instead of at commit."""
    before = table_contents(*DOMAIN_APPS)
    if connection.vendor == "postgresql":
        sql("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        sql(statement, params)
    message = str(raised.value)
    if says:
        assert says in message, message
    if constraint and connection.vendor == "postgresql":
        named = raised.value.__cause__.diag.constraint_name
        assert named == constraint if named else constraint in message, message
    elif constraint and unique:
        assert message.startswith("UNIQUE constraint failed"), message
    elif constraint:
        assert message == f"CHECK constraint failed: {constraint}", message
    assert table_contents(*DOMAIN_APPS) == before


async def relay_caught_up(timeout: float = 5.0) -> None:
    """Until the relay has sent everything committed so far: a hub names in its hello the
    seq it has delivered up to (one starting now: the relay's position), so a stream
    opened after this has everything committed before in its replay, and nothing of it
    live. Embedded defaults: the relay in this process moves its position once this
    process's hubs have taken the batch; none running yet, the first hub starts one at
    the newest seq, and there is nothing to wait for."""
    from channels.db import database_sync_to_async

    from dashboard.hub import EmbeddedRelay
    from events.relay import lag

    if EmbeddedRelay.wanted() and not EmbeddedRelay.running():
        return
    deadline = asyncio.get_running_loop().time() + timeout
    while (await database_sync_to_async(lag)()).behind_events:
        assert asyncio.get_running_loop().time() < deadline, "the relay did not catch up"
        await asyncio.sleep(0.02)


def _main(call, job, barrier, results):
    try:
        barrier.wait(timeout=60)
        results.put(call(job))
    except BaseException:
        results.put(("crashed", traceback.format_exc(), None, None))


def at_once(call: Callable[[tuple], tuple], jobs: list[tuple]) -> list[tuple]:
    """Run `call(job)` for every job in its own forked process (its own database
    connection), all released by one barrier; their results, in finishing order. `call`
    returns a tuple and closes its connections (`connections.close_all()`)."""
    ctx = multiprocessing.get_context("fork")
    connections.close_all()  # children must open their own connections, not share ours
    barrier, results = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=_main, args=(call, job, barrier, results)) for job in jobs]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    crashed = [o[1] for o in outcomes if o[0] == "crashed"]
    assert not crashed, crashed[0]
    return outcomes


def sql(statement: str, params=()) -> list[tuple] | None:
    """Run raw SQL on the test's connection (bypassing the ORM and the actions); its rows,
    if it returns any."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def insert(table: str, returning: str = "", **values) -> tuple[str, list]:
    """An INSERT of `values` (datetimes adapted as the ORM would) and its parameters."""
    params = [
        connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value
        for value in values.values()
    ]
    statement = (
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(['%s'] * len(values))})"
    )
    return statement + (f" RETURNING {returning}" if returning else ""), params


class Bypass:
    """Writes that go around Concord. On PostgreSQL the first one settles what the actions
    wrote (so no deferred check is left pending) and switches the triggers off for the
    rest of the test's transaction; the CHECK and UNIQUE constraints a corruption needs
    lifted are dropped, in the same transaction, so the rollback restores them. SQLite
    has no triggers: CHECKs are ignored for the connection (until the fixture's teardown)
    and a column's inline UNIQUE is lifted by rebuilding its table, in the transaction."""

    def __init__(self):
        self.started = False
        self.lifted: set[str] = set()

    @property
    def postgres(self) -> bool:
        return connection.vendor == "postgresql"

    def _start(self, cursor) -> None:
        if self.started:
            return
        self.started = True
        if self.postgres:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL session_replication_role = replica")

    def lift(self, table: str, *constraints: str) -> None:
        """Drop these CHECK constraints (SQLite: ignore every CHECK)."""
        with connection.cursor() as cursor:
            self._start(cursor)
            for name in constraints:
                if name in self.lifted:
                    continue
                self.lifted.add(name)
                if self.postgres:
                    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
                else:
                    cursor.execute("PRAGMA ignore_check_constraints = ON")

    def lift_unique(self, table: str, column: str) -> None:
        """Drop the UNIQUE of `unique=True` on `table.column`."""
        with connection.cursor() as cursor:
            self._start(cursor)
            if self.postgres:
                constraints = connection.introspection.get_constraints(cursor, table)
                [name] = [
                    name
                    for name, info in constraints.items()
                    if info["unique"] and not info["primary_key"] and info["columns"] == [column]
                ]
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
                return
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table]
            )
            (ddl,) = cursor.fetchone()
            loose, replaced = re.subn(rf'("{column}" [^,]*?) UNIQUE', r"\1", ddl)
            assert replaced == 1, ddl
            loose = loose.replace(f'CREATE TABLE "{table}"', f'CREATE TABLE "{table}__loose"', 1)
            cursor.execute(loose)
            cursor.execute(f'INSERT INTO "{table}__loose" SELECT * FROM "{table}"')
            # Foreign keys into the table are deferred: nothing checks them before the
            # rollback, and the rows are all back under the same name.
            cursor.execute(f'DROP TABLE "{table}"')
            cursor.execute(f'ALTER TABLE "{table}__loose" RENAME TO "{table}"')

    def sql(self, statement: str, params=()) -> list[tuple]:
        with connection.cursor() as cursor:
            self._start(cursor)
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []


def integrity_json(*args) -> tuple[int, dict]:
    """`manage.py integrity_report --format json *args`: (exit code, the report)."""
    out = StringIO()
    try:
        call_command("integrity_report", "--format", "json", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


def raw_write(statement: str, params=()) -> None:
    """Write as only something bypassing Concord could: on PostgreSQL the triggers are
    switched off for this session while it runs (as a careless restore might)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(statement, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")

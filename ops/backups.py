"""Logical backups and restores, on both backends.

- PostgreSQL: `pg_dump -Fc` of the live database, taken in a snapshot exported by a
  REPEATABLE READ transaction of ours (`--snapshot`), in which we also count every
  table's rows: the restore drill compares the restored tables with those counts.
- SQLite: the online backup API (`sqlite3.Connection.backup`) from a connection holding
  a read transaction, in which the rows were counted.

Each backup is `concord-<name>-<UTC time>.<dump|sqlite3>` in BACKUP_DIR with a
`.sha256` beside it (sha256sum's format), written under a temporary name and renamed,
and a `BackupRun` row. Retention (7 daily, 4 weekly, 12 monthly by default) is applied
after each successful backup (`keep`).

A restore goes only into a separate target (`restore(..., into=...)`): another database
on the same server, or another file. It refuses the live database, a target that holds
tables, and a backup whose checksum does not match."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ops.exceptions import BackupFailed, ChecksumMismatch, NoBackup, RestoreFailed, UnsafeTarget
from ops.models import BackupRun

STAMP = "%Y%m%dT%H%M%SZ"
NAME = re.compile(r"^concord-(?P<db>[\w.-]+)-(?P<at>\d{8}T\d{6}Z)\.(?P<ext>dump|sqlite3)$")


# --- where and what ---------------------------------------------------------------------


def database_label() -> str:
    """The live database's name as backups name it (`concord`, `db`)."""
    name = str(connection.settings_dict["NAME"])
    return re.sub(r"[^\w.-]", "_", Path(name).stem if connection.vendor == "sqlite" else name)


def backup_files(directory: Path | None = None) -> list[tuple[datetime, Path]]:
    """This database's backups in `directory`, oldest first."""
    directory = Path(directory or settings.BACKUP_DIR)
    found = []
    for path in directory.glob("concord-*"):
        match = NAME.match(path.name)
        if match and match["db"] == database_label():
            found.append((datetime.strptime(match["at"], STAMP).replace(tzinfo=UTC), path))
    return sorted(found)


def newest_backup(directory: Path | None = None) -> Path:
    files = backup_files(directory)
    if not files:
        raise NoBackup(f"no backup of {database_label()} in {directory or settings.BACKUP_DIR}")
    return files[-1][1]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify(path: Path) -> str:
    """The backup's sha256, if it matches the one written with it; else ChecksumMismatch."""
    path = Path(path)
    if not path.exists():
        raise NoBackup(f"{path}: no such backup")
    try:
        expected = checksum_path(path).read_text().split()[0]
    except (OSError, IndexError):
        raise ChecksumMismatch(f"{path.name}: no checksum file beside it") from None
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"{path.name}: checksum mismatch (expected {expected[:12]}…, found {actual[:12]}…):"
            " the file is damaged or not the one written"
        )
    return actual


# --- backup -------------------------------------------------------------------------------


def backup(directory: Path | None = None) -> BackupRun:
    """Write a backup of the live database, record it, apply retention."""
    directory = Path(directory or settings.BACKUP_DIR)
    started = timezone.now()
    kind = "pg_dump" if connection.vendor == "postgresql" else "sqlite"
    ext = "dump" if kind == "pg_dump" else "sqlite3"
    final = directory / f"concord-{database_label()}-{started.astimezone(UTC):{STAMP}}.{ext}"
    partial = final.with_name(f".{final.name}.partial")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        counts = _pg_dump(partial) if kind == "pg_dump" else _sqlite_backup(partial)
        digest = sha256_of(partial)
        checksum_path(final).write_text(f"{digest}  {final.name}\n")
        partial.rename(final)
    except (OSError, subprocess.SubprocessError, sqlite3.Error, BackupFailed) as exc:
        with contextlib.suppress(OSError):  # the folder may not exist (or be a file)
            partial.unlink(missing_ok=True)
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        BackupRun.objects.create(
            started_at=started, finished_at=timezone.now(), kind=kind, ok=False, error=error
        )
        raise BackupFailed(f"backup failed: {error}") from None
    run = BackupRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        kind=kind,
        path=str(final),
        size_bytes=final.stat().st_size,
        sha256=digest,
        ok=True,
        row_counts=counts,
    )
    prune(directory)
    return run


def tables(cursor, vendor: str) -> list[str]:
    if vendor == "postgresql":
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    else:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    return [row[0] for row in cursor.fetchall()]


def count_rows(cursor, vendor: str) -> dict[str, int]:
    counts = {}
    for table in tables(cursor, vendor):
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        counts[table] = cursor.fetchone()[0]
    return counts


def libpq_env(name: str | None = None) -> dict[str, str]:
    """The environment pg_dump/pg_restore/psql need for the live server (`name`: another
    database on it)."""
    db = connection.settings_dict
    env = {**os.environ, "PGDATABASE": name or db["NAME"], "PGCONNECT_TIMEOUT": "10"}
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER")):
        if db.get(key):
            env[var] = str(db[key])
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


def _pg_dump(target: Path) -> dict[str, int]:
    """pg_dump -Fc in a snapshot of ours, in which the rows are counted too."""
    import psycopg

    with psycopg.connect(**_connect_kwargs()) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        with conn.cursor() as cursor:
            counts = count_rows(cursor, "postgresql")
        result = subprocess.run(
            ["pg_dump", "-Fc", "--no-owner", f"--snapshot={snapshot}", "-f", str(target)],
            env=libpq_env(),
            capture_output=True,
            text=True,
        )
        conn.rollback()
    if result.returncode:
        raise BackupFailed(result.stderr.strip() or f"pg_dump exited {result.returncode}")
    return counts


def _connect_kwargs(name: str | None = None) -> dict:
    db = connection.settings_dict
    kwargs = {"dbname": name or db["NAME"], "autocommit": True, "connect_timeout": 10}
    for key in ("HOST", "PORT", "USER", "PASSWORD"):
        if db.get(key):
            kwargs[key.lower()] = db[key]
    return kwargs


def _sqlite_backup(target: Path) -> dict[str, int]:
    """The online backup API from a connection inside a read transaction (the rows are
    counted in the same snapshot)."""
    source = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        source.execute("BEGIN")
        counts = count_rows(source.cursor(), "sqlite")
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
        source.execute("COMMIT")
    finally:
        source.close()
    return counts


# --- retention ------------------------------------------------------------------------------


def to_keep(times: list[datetime], daily: int, weekly: int, monthly: int) -> set[datetime]:
    """The backups to keep: the newest of each of the last `daily` days that have one,
    of the last `weekly` ISO weeks, of the last `monthly` months (and the newest)."""
    keep: set[datetime] = set()
    for count, period in (
        (daily, lambda t: t.date()),
        (weekly, lambda t: t.isocalendar()[:2]),
        (monthly, lambda t: (t.year, t.month)),
    ):
        newest_per: dict = {}
        for at in sorted(times):
            newest_per[period(at)] = at
        keep.update(sorted(newest_per.values(), reverse=True)[:count])
    if times:
        keep.add(max(times))
    return keep


def prune(directory: Path | None = None) -> list[Path]:
    """Delete this database's backups retention does not keep; returns them."""
    files = backup_files(directory)
    keep = to_keep(
        [at for at, _ in files],
        settings.BACKUP_KEEP_DAILY,
        settings.BACKUP_KEEP_WEEKLY,
        settings.BACKUP_KEEP_MONTHLY,
    )
    removed = []
    for at, path in files:
        if at not in keep:
            path.unlink(missing_ok=True)
            checksum_path(path).unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- restore ----------------------------------------------------------------------------


@dataclass
class Restored:
    backup: Path
    target: str  # a database name on the live server, or a file path
    url: str  # DATABASE_URL for the target
    seconds: float


def restore(path: Path, *, into: str) -> Restored:
    """Restore the backup at `path` into `into` (never the live database)."""
    path = Path(path)
    verify(path)
    started = time.perf_counter()
    if path.suffix == ".dump":
        if connection.vendor != "postgresql":
            raise UnsafeTarget(f"{path.name} is a PostgreSQL dump: restore it with DATABASE_URL")
        url = _restore_pg(path, into)
    else:
        url = _restore_sqlite(path, Path(into))
    return Restored(path, into, url, time.perf_counter() - started)


def _restore_pg(path: Path, name: str) -> str:
    import psycopg
    from psycopg import sql

    if not re.fullmatch(r"[A-Za-z_][\w-]{0,62}", name):
        raise UnsafeTarget(f"{name!r} is not a database name")
    if name == connection.settings_dict["NAME"]:
        raise UnsafeTarget(f"{name} is the live database: restore into another one")
    with psycopg.connect(**_connect_kwargs("postgres")) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(**_connect_kwargs(name)) as target, target.cursor() as cursor:
        if tables(cursor, "postgresql"):
            raise UnsafeTarget(f"{name} already holds tables: restore into an empty database")
    result = subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "-d", name, str(path)],
        env=libpq_env(name),
        capture_output=True,
        text=True,
    )
    if result.returncode:
        lines = result.stderr.strip().splitlines() or [f"pg_restore exited {result.returncode}"]
        raise RestoreFailed(f"{path.name}: {lines[0]}")
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _restore_sqlite(path: Path, target: Path) -> str:
    live = Path(connection.settings_dict["NAME"])
    if target.resolve() == live.resolve():
        raise UnsafeTarget(f"{target} is the live database: restore into another file")
    if target.exists() and target.stat().st_size > 0:
        raise UnsafeTarget(f"{target} exists: restore into a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            checked = source.execute("PRAGMA integrity_check").fetchone()[0]
            if checked != "ok":
                raise RestoreFailed(f"{path.name}: SQLite integrity_check: {checked}")
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.DatabaseError as exc:
        target.unlink(missing_ok=True)
        raise RestoreFailed(f"{path.name}: {exc}") from None
    return f"sqlite:///{target.resolve()}"


def drop_target(restored: Restored) -> None:
    """Remove a scratch target made by `restore` (the drill's)."""
    if restored.url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(restored.target + suffix).unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(**_connect_kwargs("postgres")) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(restored.target)
            )
        )


__all__ = ["backup", "prune", "restore", "to_keep", "verify"]

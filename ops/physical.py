"""Physical backups with pgBackRest (PostgreSQL only): full, differential and
incremental backups, continuous WAL archiving, point-in-time restore into a separate
data directory, repository encryption.

Concord writes pgBackRest's configuration (`config_text`, `manage.py pgbackrest_config`)
and runs it (`PGBACKREST_COMMAND`, `pgbackrest` by default: it must run as the user
owning the cluster's data directory, so `sudo -u postgres pgbackrest` on most hosts);
pgBackRest does the work. The cluster needs, in postgresql.conf (`server_settings`):
`wal_level = replica`, `archive_mode = on`, `archive_command = '<pgbackrest> --config=…
--stanza=… archive-push %p'`; then `stanza-create` once. Retention is pgBackRest's:
`repo1-retention-full` full backups (and the WAL they need) are kept."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ops.exceptions import BackupFailed, RestoreFailed, UnsafeTarget
from ops.models import BackupRun

TYPES = ("full", "diff", "incr")


@dataclass(frozen=True)
class Repository:
    stanza: str
    pg_path: Path  # the cluster's data directory
    pg_port: int
    repo_path: Path
    socket_path: str = "/var/run/postgresql"
    cipher_pass: str = ""  # empty: no encryption
    retention_full: int = 4


def config_text(repo: Repository) -> str:
    """pgbackrest.conf for `repo`."""
    lines = [
        "[global]",
        f"repo1-path={repo.repo_path}",
        f"repo1-retention-full={repo.retention_full}",
        f"log-path={repo.repo_path}/log",
        f"lock-path={repo.repo_path}/lock",
        "log-level-console=warn",
        "log-level-file=info",
        "start-fast=y",
        "delta=y",
    ]
    if repo.cipher_pass:
        lines += ["repo1-cipher-type=aes-256-cbc", f"repo1-cipher-pass={repo.cipher_pass}"]
    lines += [
        "",
        f"[{repo.stanza}]",
        f"pg1-path={repo.pg_path}",
        f"pg1-port={repo.pg_port}",
        f"pg1-socket-path={repo.socket_path}",
        "",
    ]
    return "\n".join(lines)


def server_settings(config: Path, stanza: str) -> dict[str, str]:
    """The postgresql.conf settings WAL archiving into the repository needs (the server
    runs the archive command as its own user: plain `pgbackrest`, not
    PGBACKREST_COMMAND)."""
    binary = shutil.which("pgbackrest") or "pgbackrest"
    command = " ".join([binary, f"--config={config}", f"--stanza={stanza}"])
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": f"{command} archive-push %p",
        "max_wal_senders": "3",
        # A quiet server's last WAL segment is archived within a minute, not when full:
        # the recovery point is at most that old.
        "archive_timeout": "60",
    }


def _command() -> list[str]:
    return shlex.split(settings.PGBACKREST_COMMAND)


def run(config: Path, stanza: str, *args: str, timeout: float = 3600) -> str:
    """`pgbackrest --config=… --stanza=… <args>`; its stdout, or RuntimeError with the
    first line of its complaint."""
    result = subprocess.run(
        [*_command(), f"--config={config}", f"--stanza={stanza}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        errors = [line for line in lines if "ERROR" in line]
        raise RuntimeError((errors or lines or [f"pgbackrest exited {result.returncode}"])[0])
    return result.stdout


def backup(config: Path, stanza: str, kind: str = "full") -> BackupRun:
    """A pgBackRest backup of `kind` (full, diff, incr), recorded as a BackupRun."""
    if kind not in TYPES:
        raise BackupFailed(f"backup type {kind!r} is not one of {', '.join(TYPES)}")
    started = timezone.now()
    try:
        run(config, stanza, "backup", f"--type={kind}")
        label, size = _newest(config, stanza)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        BackupRun.objects.create(
            started_at=started,
            finished_at=timezone.now(),
            kind="pgbackrest",
            ok=False,
            error=str(exc),
        )
        raise BackupFailed(f"pgbackrest backup failed: {exc}") from None
    return BackupRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        kind="pgbackrest",
        path=label,
        size_bytes=size,
        ok=True,
    )


def _newest(config: Path, stanza: str) -> tuple[str, int]:
    import json

    info = json.loads(run(config, stanza, "info", "--output=json"))
    newest = info[0]["backup"][-1]
    return newest["label"], int(newest["info"]["repository"]["delta"])


def restore(config: Path, stanza: str, *, into: Path, to: datetime | None = None) -> Path:
    """Restore into the new, empty data directory `into` (never the live cluster's), to
    the time `to` (else to the end of the archive), ready to start on another port; the
    restored cluster archives nothing (`archive_mode=off`)."""
    into = Path(into)
    live = _live_path(config, stanza)
    if live is not None and into.resolve() == live.resolve():
        raise UnsafeTarget(f"{into} is the live cluster's data directory")
    if into.exists() and any(into.iterdir()):
        raise UnsafeTarget(f"{into} is not empty: restore into a new directory")
    args = ["restore", f"--pg1-path={into}", "--archive-mode=off"]
    if to is not None:
        args += ["--type=time", f"--target={to.isoformat(sep=' ')}", "--target-action=promote"]
    try:
        run(config, stanza, *args)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        raise RestoreFailed(f"pgbackrest restore failed: {exc}") from None
    return into


def _live_path(config: Path, stanza: str) -> Path | None:
    section = None
    for line in Path(config).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == stanza and line.startswith("pg1-path="):
            return Path(line.split("=", 1)[1])
    return None


class ArchivingOff(Exception):
    """WAL archiving is not running as pgBackRest needs (the `/healthz` check)."""


def archiving() -> str:
    """`/healthz`'s `archiving` check, registered when PGBACKREST_CONFIG is set: the live
    server archives (`archive_mode`, `archive_command` naming pgbackrest) and its last
    archive attempt did not fail (`pg_stat_archiver`)."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('archive_mode'), current_setting('archive_command'),"
                " last_archived_wal, last_failed_time > coalesce(last_archived_time,"
                " '-infinity') FROM pg_stat_archiver"
            )
            mode, command, last_wal, failing = cursor.fetchone()
    finally:
        connection.close()  # the probe's thread: leave no connection behind
    if mode not in {"on", "always"}:
        raise ArchivingOff(f"archive_mode is {mode}")
    if "pgbackrest" not in command:
        raise ArchivingOff("archive_command does not run pgbackrest")
    if failing:
        raise ArchivingOff("the last WAL archive attempt failed")
    return f"archiving (last {last_wal or 'none yet'})"

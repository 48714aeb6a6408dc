"""Physical backups and point-in-time restore with pgBackRest, for real: a private
PostgreSQL cluster (its own data directory, port and socket in a temporary folder, WAL
archived into a pgBackRest repository beside it); the machine's own cluster is never
touched. Write A, back up, note the time, write B, restore to that time into a new data
directory, start it on another port: A present, B absent."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ops import physical
from ops.models import BackupRun
from tests.servers import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        shutil.which("pgbackrest") is None or not (BIN / "initdb").exists(),
        reason="needs pgbackrest and PostgreSQL 15's server binaries",
    ),
]


def as_postgres(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """A command as the `postgres` user (initdb refuses root), or as ourselves if we
    are not root."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *args], capture_output=True, text=True, check=check)


class Cluster:
    def __init__(self, data: Path, port: int, sockets: Path):
        self.data, self.port, self.sockets = data, port, sockets

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        as_postgres(
            str(BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.data.parent / f"{self.data.name}.log"),
            "start",
        )

    def stop(self) -> None:
        as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False
        )

    def sql(self, statement: str):
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else None


@pytest.fixture
def private_cluster(settings):
    base = Path(tempfile.mkdtemp(prefix="concord-pgbackrest-"))
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    folders = [base / name for name in ("data", "repo", "repo/log", "repo/lock", "sockets")]
    for path in folders:
        path.mkdir()
    if owner is not None:
        for path in (base, *folders):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(base / "data", 0o700)
    settings.PGBACKREST_COMMAND = (
        "runuser -u postgres -- pgbackrest" if owner is not None else "pgbackrest"
    )
    cluster = Cluster(base / "data", free_port(), base / "sockets")
    repo = physical.Repository(
        stanza="concord-test",
        pg_path=cluster.data,
        pg_port=cluster.port,
        repo_path=base / "repo",
        socket_path=str(cluster.sockets),
        cipher_pass="test-only-cipher-pass-0123456789",
        retention_full=2,
    )
    config = base / "pgbackrest.conf"
    config.write_text(physical.config_text(repo))
    config.chmod(0o644)
    as_postgres(str(BIN / "initdb"), "-D", str(cluster.data), "-A", "trust", "-U", "postgres")
    with (cluster.data / "postgresql.conf").open("a") as conf:
        for key, value in physical.server_settings(config, repo.stanza).items():
            conf.write(f"{key} = '{value}'\n")
    cluster.start()
    restored = []
    try:
        physical.run(config, repo.stanza, "stanza-create")
        yield cluster, config, repo, base, restored
    finally:
        for other in restored:
            other.stop()
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_point_in_time_restore_brings_back_a_and_not_b(private_cluster, settings):
    cluster, config, repo, base, restored = private_cluster
    settings.PGBACKREST_CONFIG, settings.PGBACKREST_STANZA = str(config), repo.stanza
    cluster.sql("CREATE TABLE notes (v text)")
    cluster.sql("INSERT INTO notes VALUES ('A')")
    call_command("backup", "--type", "full")
    run = BackupRun.objects.get(kind="pgbackrest")
    assert run.ok
    assert run.path.endswith("F")  # a full backup's label
    # pgBackRest picks a backup set that stopped before the target, comparing whole
    # seconds: a target in the backup's last second finds none.
    time.sleep(1.1)
    (point,) = cluster.sql("SELECT now()")[0]
    time.sleep(1.5)
    cluster.sql("INSERT INTO notes VALUES ('B')")
    cluster.sql("SELECT pg_switch_wal()")  # B's WAL goes to the archive now
    physical.run(config, repo.stanza, "check")  # waits until that segment is archived

    target = base / "restored"
    target.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(target, owner.pw_uid, owner.pw_gid)
    call_command("restore", "--to", point.isoformat(sep=" "), "--into", str(target))
    copy = Cluster(target, free_port(), cluster.sockets)
    restored.append(copy)
    copy.start()
    deadline = time.monotonic() + 30
    while copy.sql("SELECT pg_is_in_recovery()")[0][0] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert copy.sql("SELECT v FROM notes ORDER BY v") == [("A",)]
    assert cluster.sql("SELECT v FROM notes ORDER BY v") == [("A",), ("B",)]


def test_restore_refuses_the_live_data_directory_and_a_non_empty_one(private_cluster, settings):
    cluster, config, repo, base, _ = private_cluster
    settings.PGBACKREST_CONFIG, settings.PGBACKREST_STANZA = str(config), repo.stanza
    for into in (cluster.data, base):
        with pytest.raises(CommandError) as refused:
            call_command("restore", "--to", datetime.now(UTC).isoformat(), "--into", str(into))
        assert refused.value.returncode == 1
        assert "\n" not in str(refused.value)


def test_the_repository_is_encrypted(private_cluster):
    _, config, repo, _, _ = private_cluster
    assert "repo1-cipher-type=aes-256-cbc" in config.read_text()
    out = physical.run(config, repo.stanza, "info")
    assert "cipher: aes-256-cbc" in out


def test_healthz_archiving_check_says_what_is_off():
    # The machine's cluster (the test database) does not archive: the check says so.
    with pytest.raises(physical.ArchivingOff, match="archive_mode is off"):
        physical.archiving()

"""The restore drill of the pgBackRest repository, for real: Concord's schema migrated
into a private cluster (tests/ops/test_pgbackrest.py), a full backup, rows written after
it (replayed from the WAL archive), then `restore_drill --physical`: verify, a restore
point, a scratch cluster on another port, migrate --check, the integrity report, row
counts, a DrillRun. A damaged backup fails the drill loudly: exit 1 and one alert."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ops.alerts import evaluate
from ops.models import Alert, DrillRun
from ops.rules import drill_failed
from tests.ops.receiver import receiver
from tests.ops.test_pgbackrest import private_cluster  # noqa: F401 (a fixture)
from tests.ops.test_pgbackrest import pytestmark as physical_marks

pytestmark = [*physical_marks[:-1], pytest.mark.timeout(900), physical_marks[-1]]
ROOT = Path(__file__).resolve().parents[2]


def migrate_into(cluster, database: str) -> None:
    cluster.sql(f'CREATE DATABASE "{database}"')
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{cluster.port}/{database}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )


def write_after_backup(cluster, database: str) -> None:
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname=database, autocommit=True
    ) as conn:
        conn.execute("INSERT INTO ops_heartbeat (name, beat_at) VALUES ('after', now())")


def test_the_physical_drill_restores_checks_and_records_and_a_damaged_backup_fails_loudly(
    private_cluster,  # noqa: F811
    settings,
):
    cluster, config, repo, base, _ = private_cluster
    settings.PGBACKREST_CONFIG, settings.PGBACKREST_STANZA = str(config), repo.stanza
    settings.ALERT_BACKUP_MAX_AGE_HOURS = 0
    migrate_into(cluster, "concord")
    call_command("backup", "--type", "full")
    write_after_backup(cluster, "concord")

    call_command("restore_drill", "--physical", "--database", "concord")
    run = DrillRun.objects.get()
    assert run.ok, run.error
    assert run.report["restore_point"].startswith("concord-drill-")
    assert run.report["integrity"]["ok"]
    assert run.report["row_counts"]["compared"]
    assert run.report["row_counts"]["rows"] > 0
    assert run.restore_seconds > 0
    assert not list(Path("/tmp").glob("concord-drill-*/data/PG_VERSION"))  # removed

    # Damage one file of the backup in the repository.
    damaged = next(p for p in (base / "repo" / "backup").rglob("*") if p.is_file() and
                   "pg_data" in p.parts and p.stat().st_size > 1000)  # fmt: skip
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(CommandError) as failed:
        call_command("restore_drill", "--physical", "--database", "concord")
    assert failed.value.returncode == 1
    assert str(failed.value).startswith("restore drill FAILED:")
    assert "\n" not in str(failed.value)
    assert DrillRun.objects.latest().ok is False
    with receiver() as (url, received):
        settings.ALERT_URLS = [url]
        evaluate({"drill_failed": drill_failed})
        evaluate({"drill_failed": drill_failed})
    assert len(received) == 1
    assert "pgBackRest repository" in received[0]["title"]
    assert Alert.objects.get().key == "drill_failed:pgbackrest"

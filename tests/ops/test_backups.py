"""Backups, restores and the restore drill, for real: pg_dump/pg_restore on PostgreSQL,
SQLite's online backup API on embedded defaults; the commands as an operator runs them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.actions import register_member
from ledger.actions import award
from ops.alerts import evaluate
from ops.backups import backup_files, drop_target, restore, to_keep
from ops.models import Alert, BackupRun, DrillRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


@pytest.fixture
def members(db):
    for n in range(5):
        member = register_member(platform="web", external_id=f"m{n}").member
        award(member, 10 + n, currency="points", reason="t", idempotency_key=f"k{n}")


@pytest.fixture
def scratch(tmp_path):
    """A restore target name for this backend, dropped afterwards."""
    if connection.vendor == "postgresql":
        name = f"{connection.settings_dict['NAME']}_scratch"
        yield name
        with psycopg.connect(
            dbname="postgres",
            host=connection.settings_dict["HOST"] or "127.0.0.1",
            port=connection.settings_dict["PORT"] or 5432,
            user=connection.settings_dict["USER"],
            autocommit=True,
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield str(tmp_path / "scratch.sqlite3")


def command(*args) -> tuple[int, str]:
    try:
        out = call_command(*args)
    except CommandError as error:
        return error.returncode, str(error)
    return 0, out or ""


def rows_in(restored_url: str, table: str) -> int:
    if restored_url.startswith("sqlite"):
        conn = sqlite3.connect(restored_url.removeprefix("sqlite:///"))
        try:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    with psycopg.connect(restored_url) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_a_backup_is_written_with_its_checksum_and_recorded(backup_dir, members):
    code, _ = command("backup", "--logical")
    assert code == 0
    run = BackupRun.objects.get()
    path = Path(run.path)
    assert path.parent == backup_dir
    assert path.suffix == (".dump" if connection.vendor == "postgresql" else ".sqlite3")
    assert run.ok
    assert run.size_bytes == path.stat().st_size > 0
    checksum = path.with_name(path.name + ".sha256").read_text().split()
    assert checksum == [run.sha256, path.name]
    assert run.row_counts["accounts_member"] == 5
    assert run.row_counts["ledger_posting"] >= 5


def test_a_restore_into_scratch_holds_the_data_and_leaves_the_live_database(
    backup_dir, members, scratch
):
    command("backup", "--logical")
    register_member(platform="web", external_id="after-the-backup")
    restored = restore(Path(BackupRun.objects.get().path), into=scratch)
    try:
        assert rows_in(restored.url, "accounts_member") == 5
    finally:
        drop_target(restored)
    from accounts.models import Member

    assert Member.objects.count() == 6


def test_restore_refuses_the_live_database_and_a_bad_checksum_with_one_line(
    backup_dir, members, scratch
):
    command("backup", "--logical")
    live = connection.settings_dict["NAME"]
    code, message = command("restore", "--into", str(live))
    assert code == 1
    assert "is the live database" in message
    assert "\n" not in message

    path = Path(BackupRun.objects.get().path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    code, message = command("restore", str(path), "--into", scratch)
    assert code == 1
    assert "checksum mismatch" in message
    assert "\n" not in message


def test_restore_from_a_shell_is_one_line_and_a_non_zero_exit(backup_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "restore", str(tmp_path / "nope.dump"), "--into", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"DJANGO_DEBUG": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no such backup" in result.stderr


def test_the_drill_restores_checks_and_records_a_pass(backup_dir, members):
    command("backup", "--logical")
    code, out = command("restore_drill")
    assert code == 0, out
    drill = DrillRun.objects.get()
    assert drill.ok
    assert drill.report["row_counts"] == {
        "compared": True,
        "tables": drill.report["row_counts"]["tables"],
    }
    assert drill.report["integrity"]["ok"]
    assert drill.backup == BackupRun.objects.get()
    # Its child processes wrote no metrics files (they run with no multiprocess dir).
    assert not list(ROOT.glob("counter_*.db"))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'concord_drill_%%'")
            assert cursor.fetchone()[0] == 0  # the scratch database is gone


def test_a_drill_on_a_corrupted_backup_fails_loudly_and_alerts(backup_dir, members, settings):
    settings.ALERT_BACKUP_MAX_AGE_HOURS = 0
    command("backup", "--logical")
    path = Path(BackupRun.objects.get().path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))

    code, message = command("restore_drill")
    assert code == 1
    assert message.startswith("restore drill FAILED:")
    assert "checksum mismatch" in message
    drill = DrillRun.objects.get()
    assert not drill.ok
    evaluate()
    assert Alert.objects.get(state="open").key == "drill_failed"


def test_a_drill_finds_rows_missing_from_what_the_backup_promised(backup_dir, members):
    command("backup", "--logical")
    run = BackupRun.objects.get()
    BackupRun.objects.filter(pk=run.pk).update(row_counts={**run.row_counts, "accounts_member": 6})
    code, message = command("restore_drill")
    assert code == 1
    assert "row counts differ in 1 table(s): accounts_member 6 -> 5" in message


def test_without_logical_the_command_says_what_to_use(backup_dir):
    code, message = command("backup")
    assert code == 2
    assert "--logical" in message


def test_retention_keeps_7_daily_4_weekly_12_monthly():
    start = datetime(2025, 1, 1, 3, tzinfo=UTC)
    times = [start + timedelta(days=d, hours=h) for d in range(400) for h in (0, 12)]
    keep = to_keep(times, 7, 4, 12)
    newest = max(times)
    assert newest in keep
    daily = {t.date() for t in keep if newest - t < timedelta(days=7)}
    assert len(daily) == 7
    assert all(t.hour == 15 for t in keep)  # the newest of its day
    assert len({(t.year, t.month) for t in keep}) == 12
    assert len(keep) <= 7 + 4 + 12


def test_the_command_applies_retention(backup_dir, settings):
    settings.BACKUP_KEEP_DAILY, settings.BACKUP_KEEP_WEEKLY, settings.BACKUP_KEEP_MONTHLY = 1, 0, 0
    command("backup", "--logical")
    first = backup_files()
    assert len(first) == 1
    # a later second: file names carry the time to the second
    import time

    time.sleep(1.1)
    command("backup", "--logical")
    files = backup_files()
    assert len(files) == 1
    assert files[0][1] != first[0][1]
    assert not first[0][1].with_name(first[0][1].name + ".sha256").exists()

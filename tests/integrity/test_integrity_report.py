from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.actions import register_member
from integrity.models import IntegrityRun
from integrity.registry import all_checks
from integrity.tasks import run_integrity_report
from tests.helpers import raw_write as raw

ACCOUNTS_CHECKS = {
    "accounts.email_normalized_unique",
    "accounts.email_normalized_matches",
    "accounts.referral_codes_valid",
    "accounts.member_has_profile",
    "accounts.member_has_identity",
    "accounts.no_self_referral",
    "accounts.one_active_subscription",
}


def report(*args) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("integrity_report", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue()


def test_every_accounts_rule_has_a_registered_check():
    assert {c.name for c in all_checks()} >= ACCOUNTS_CHECKS


def test_clean_data_reports_ok_and_exits_0(alice, bob):
    code, out = report("--format", "json")
    assert code == 0
    body = json.loads(out)
    assert body["ok"] is True
    assert {c["name"] for c in body["checks"]} >= ACCOUNTS_CHECKS
    for check in body["checks"]:
        assert set(check) >= {"name", "status", "violations", "sample", "duration_ms"}
        assert check["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_member_whose_profile_was_deleted_by_raw_sql_is_found_and_exits_1():
    victim = register_member(platform="web", external_id="v").member
    register_member(platform="web", external_id="ok")
    raw("DELETE FROM accounts_profile WHERE member_id = %s", [victim.pk])

    code, out = report("--format", "json")
    assert code == 1
    body = json.loads(out)
    assert body["ok"] is False
    failed = {c["name"]: c for c in body["checks"] if c["status"] == "failed"}
    assert set(failed) == {"accounts.member_has_profile"}
    assert failed["accounts.member_has_profile"]["violations"] == 1
    assert failed["accounts.member_has_profile"]["sample"] == [victim.pk]

    code, text = report()
    assert code == 1
    assert "accounts.member_has_profile" in text
    assert "NOT CLEAN" in text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("statement", "check"),
    [
        (
            "UPDATE accounts_member SET email_normalized = 'someone@else.org'",
            "accounts.email_normalized_matches",
        ),
        ("DELETE FROM accounts_identity", "accounts.member_has_identity"),
    ],
)
def test_other_corruptions_are_found(statement, check):
    register_member(platform="web", external_id="x", email="x@example.org")
    raw(statement)
    code, out = report("--format", "json", "--check", check)
    assert code == 1
    assert json.loads(out)["checks"][0]["violations"] == 1


def test_selected_checks_run_alone(alice):
    code, out = report("--format", "json", "--check", "accounts.no_self_referral")
    assert code == 0
    assert [c["name"] for c in json.loads(out)["checks"]] == ["accounts.no_self_referral"]


def test_unknown_check_name_could_not_run_exit_2(db):
    with pytest.raises(CommandError, match="unknown integrity check") as raised:
        call_command("integrity_report", "--check", "accounts.nope")
    assert raised.value.returncode == 2


def test_a_check_that_crashes_is_an_error_and_the_others_still_run(db, monkeypatch):
    from integrity import registry

    def broken():
        raise RuntimeError("query exploded")

    monkeypatch.setitem(
        registry._checks, "zz.broken", registry.Check("zz.broken", "always fails", broken)
    )
    code, out = report("--format", "json")
    assert code == 2
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["zz.broken"]["status"] == "error"
    assert "query exploded" in checks["zz.broken"]["error"]
    assert checks["accounts.member_has_profile"]["status"] == "ok"


def test_scheduled_task_stores_the_run(alice):
    run = IntegrityRun.objects.get(pk=run_integrity_report.apply().get())
    assert run.ok is True
    assert run.failed_checks == 0
    assert {c["name"] for c in run.report["checks"]} >= ACCOUNTS_CHECKS


def drop_rule(kind: str, name: str, table: str) -> None:
    """Lift one database rule for the rest of this test's (rolled-back) transaction, to
    plant the corruption the matching check exists to find."""
    with connection.cursor() as cursor:
        if kind == "index":
            cursor.execute(f"DROP INDEX {name}")
        elif connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # settle the fixtures' triggers
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        else:
            cursor.execute("PRAGMA ignore_check_constraints = ON")


@pytest.fixture
def lift_check_constraints_on_sqlite(db):
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")


@pytest.mark.usefixtures("lift_check_constraints_on_sqlite")
def test_duplicate_normalized_emails_are_found(alice, bob):
    drop_rule("index", "accounts_member_email_normalized_unique", "accounts_member")
    raw(
        "UPDATE accounts_member SET email = %s, email_normalized = %s WHERE id = %s",
        [alice.email, alice.email_normalized, bob.pk],
    )
    code, out = report("--format", "json", "--check", "accounts.email_normalized_unique")
    assert code == 1
    assert json.loads(out)["checks"][0]["sample"] == [alice.pk, bob.pk]


@pytest.mark.usefixtures("lift_check_constraints_on_sqlite")
def test_referral_codes_outside_the_alphabet_are_found(alice, bob):
    drop_rule("check", "accounts_member_referral_code_format", "accounts_member")
    raw("UPDATE accounts_member SET referral_code = 'OIL10OIL' WHERE id = %s", [bob.pk])
    code, out = report("--format", "json", "--check", "accounts.referral_codes_valid")
    assert code == 1
    assert json.loads(out)["checks"][0]["sample"] == [bob.pk]


@pytest.mark.usefixtures("lift_check_constraints_on_sqlite")
def test_self_referral_is_found(alice, bob):
    drop_rule("check", "accounts_member_no_self_referral", "accounts_member")
    raw("UPDATE accounts_member SET referred_by_id = id WHERE id = %s", [bob.pk])
    code, out = report("--format", "json", "--check", "accounts.no_self_referral")
    assert code == 1
    assert json.loads(out)["checks"][0]["sample"] == [bob.pk]


def test_two_active_subscriptions_are_found(alice, bob):
    from accounts.actions import start_subscription

    start_subscription(alice, tier="basic")
    start_subscription(bob, tier="basic")
    drop_rule("index", "accounts_subscription_one_active_per_member", "accounts_subscription")
    raw(
        "INSERT INTO accounts_subscription (member_id, tier, status, starts_at, created_at)"
        " VALUES (%s, 'premium', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        [alice.pk],
    )
    code, out = report("--format", "json", "--check", "accounts.one_active_subscription")
    assert code == 1
    assert json.loads(out)["checks"][0]["sample"] == [alice.pk]


def test_unreachable_database_could_not_run_exit_2_in_one_line(tmp_path):
    import subprocess
    import sys

    from tests.servers import ROOT, child_env, free_port

    env = child_env({"DATABASE_URL": f"postgres://nobody@127.0.0.1:{free_port()}/none"})
    result = subprocess.run(
        [sys.executable, "manage.py", "integrity_report"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: could not run:")

"""Selective restore of one member, for real on both backends: a backup, changes made
through actions after it, the backup restored into a scratch copy, then
`manage.py restore_member` reporting what differs and `--apply` repairing it through
actions after a fresh backup (or refusing when that backup cannot be taken)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.actions import link_identity, register_member, start_subscription, update_member
from accounts.models import Identity, Member
from events.models import Event
from integrity.registry import all_checks
from integrity.runner import run_checks
from ledger.actions import award, spend
from ledger.models import Account, Posting, Transfer
from ops.drill import LIVE_CHECKS
from ops.models import BackupRun
from tests.ops.test_backups import scratch  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def run(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command(*args, stdout=out)
    except CommandError as error:
        return error.returncode, str(error)
    except SystemExit as exited:
        return exited.code, out.getvalue()
    return 0, out.getvalue()


def points(member) -> int:
    return Account.objects.get(member=member, currency__code="points").balance


@pytest.fixture
def changed_since_backup(settings, tmp_path, scratch):  # noqa: F811
    """Alice as backed up (restored into `scratch`), then changed by actions."""
    settings.BACKUP_DIR = tmp_path / "backups"
    alice = register_member(
        platform="telegram", external_id="1001", username="alice", email="alice@example.org"
    ).member
    update_member(alice, display_name="Alice")
    link_identity(alice, platform="discord", external_id="77", username="al")
    award(alice, 100, currency="points", reason="quiz", idempotency_key="a1")
    assert run("backup", "--logical")[0] == 0
    assert run("restore", "--into", scratch)[0] == 0
    backed_up = points(alice)

    update_member(alice, display_name="Mallory", language="fr")
    Identity.objects.filter(member=alice, platform="discord").delete()  # lost (no action)
    spend(alice, 40, currency="points", sink="shop", reason="oops", idempotency_key="s1")
    start_subscription(alice, tier="basic")
    return alice, scratch, backed_up


def test_the_report_names_what_differs_and_writes_nothing(changed_since_backup):
    alice, source, backed_up = changed_since_backup
    transfers = Transfer.objects.count()
    code, out = run("restore_member", str(alice.pk), "--from", source)
    assert code == 1
    assert "member member: backup ['Alice', 'en', 1, 'alice@example.org']" in out
    assert "live ['Mallory', 'fr', 1, 'alice@example.org']" in out
    assert "identities discord:77: only in the backup ['al']" in out
    assert f"wallets points: backup [{backed_up}], live [{backed_up - 40}]" in out
    assert "postings" in out
    assert "subscriptions" in out
    assert "--apply: update_member(display_name='Alice', language='en')" in out
    assert f"--apply: points: award from issuance 40 (adjustment: live {backed_up - 40}" in out
    assert "not repaired: subscriptions" in out
    alice.refresh_from_db()
    assert alice.display_name == "Mallory"
    assert Transfer.objects.count() == transfers


def test_on_embedded_defaults_the_backup_file_itself_is_a_source(changed_since_backup):
    from django.db import connection

    from ops.backups import newest_backup

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL reads the database `restore --into` made")
    alice, source, _ = changed_since_backup
    from_copy = run("restore_member", str(alice.pk), "--from", source)
    from_file = run("restore_member", str(alice.pk), "--from", str(newest_backup()))
    assert from_file[0] == 1
    assert from_file[1].splitlines()[1:] == from_copy[1].splitlines()[1:]


def test_apply_refuses_when_the_fresh_backup_cannot_be_taken(changed_since_backup, settings):
    alice, source, _ = changed_since_backup
    blocker = settings.BACKUP_DIR.parent / "not-a-folder"
    blocker.write_text("x")
    settings.BACKUP_DIR = blocker / "backups"  # cannot be created: its parent is a file
    transfers = Transfer.objects.count()
    code, out = run("restore_member", str(alice.pk), "--from", source, "--apply")
    assert code == 1
    assert out.startswith("restore_member refused: --apply takes a backup first")
    assert "\n" not in out
    alice.refresh_from_db()
    assert alice.display_name == "Mallory"
    assert Transfer.objects.count() == transfers
    assert not Event.objects.filter(kind="system.member_repaired").exists()


def test_apply_backs_up_then_repairs_through_actions_and_integrity_stays_clean(
    changed_since_backup,
):
    alice, source, backed_up = changed_since_backup
    postings = Posting.objects.count()
    backups_before = BackupRun.objects.filter(ok=True).count()
    code, out = run("restore_member", str(alice.pk), "--from", source, "--apply")
    assert code == 1, out  # the subscription is left for its own actions
    assert "fresh backup:" in out
    assert BackupRun.objects.filter(ok=True).count() == backups_before + 1
    alice = Member.objects.get(pk=alice.pk)
    assert (alice.display_name, alice.language) == ("Alice", "en")
    assert Identity.objects.filter(member=alice, platform="discord", external_id="77").exists()
    assert points(alice) == backed_up
    adjustment = Transfer.objects.get(kind="adjustment")
    assert adjustment.postings.count() == 2  # a transfer like any other, no raw posting
    assert Posting.objects.count() == postings + 2
    assert Event.objects.filter(kind="system.member_repaired").count() == 1
    names = [c.name for c in all_checks() if c.name not in LIVE_CHECKS]
    report = run_checks(names)
    assert report.ok, [c.name for c in report.checks if c.status != "ok"]

    code, out = run("restore_member", str(alice.pk), "--from", source)
    assert code == 1  # only what --apply leaves: the subscription, the later postings
    assert "--apply:" not in out


def test_a_source_that_is_not_a_restored_copy_is_refused_in_one_line(db, tmp_path):
    from django.db import connection

    member = register_member(platform="web", external_id="x").member
    live = connection.settings_dict["NAME"] if connection.vendor == "postgresql" else "nope"
    code, out = run("restore_member", str(member.pk), "--from", str(live))
    assert code == 1
    assert "\n" not in out
    code, out = run("restore_member", str(member.pk), "--from", str(tmp_path / "x.sqlite3"))
    assert code == 1

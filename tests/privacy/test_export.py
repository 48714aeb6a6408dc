"""`manage.py export_member` and the member page's export: everything about one member."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from ledger.actions import award
from tests.factories import MemberFactory, TournamentFactory, UserFactory
from tournaments.actions import register

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dana(db):
    member = MemberFactory(
        platform="telegram", external_id="5550001", username="dana", email="dana@example.org"
    )
    award(member, 40, reason="quiz", idempotency_key="t:dana:1")
    register(TournamentFactory(entry_fee=10), member)
    return member


def export(*args) -> dict:
    out = StringIO()
    call_command("export_member", *args, stdout=out)
    return json.loads(out.getvalue())


def test_export_holds_the_member_their_identities_wallets_postings_registrations_and_events(
    dana,
):
    other = MemberFactory(external_id="5550002", username="eve", email="eve@example.org")
    data = export(str(dana.pk))
    assert data["member"]["email"] == "dana@example.org"
    records = data["records"]
    assert [i["external_id"] for i in records["accounts.identity"]] == ["5550001"]
    assert len(records["accounts.profile"]) == 1
    wallets = {w["id"]: w["balance"] for w in records["ledger.account"]}
    summed = dict.fromkeys(wallets, 0)
    for posting in records["ledger.posting"]:
        summed[posting["account_id"]] += posting["amount"]
    assert summed == wallets
    assert len(records["tournaments.registration"]) == 1
    kinds = {e["kind"] for e in data["events"]}
    assert {"member.registered", "tournament.registered"} <= kinds
    text = json.dumps(data)
    assert "eve@example.org" not in text
    assert str(other.identities.get().external_id) not in text


def test_export_to_a_file_is_readable_by_its_owner_only(dana, tmp_path):
    target = tmp_path / "dana.json"
    call_command("export_member", str(dana.pk), "--output", str(target))
    assert json.loads(target.read_text())["member"]["id"] == dana.pk
    assert target.stat().st_mode & 0o077 == 0


def test_export_of_an_unknown_member_is_refused():
    with pytest.raises(CommandError, match="no member with id 999999"):
        export("999999")
    with pytest.raises(CommandError, match="must be a number"):
        export("abc")


def test_export_command_bad_id_is_one_line_and_exit_nonzero():
    done = subprocess.run(
        [sys.executable, "manage.py", "export_member", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_member_page_export_needs_the_personal_data_permission(client, dana):
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(viewer)
    url = f"/dashboard/members/{dana.pk}/export.json"
    assert client.get(url).status_code == 403
    page = client.get(f"/dashboard/members/{dana.pk}/")
    assert url not in page.content.decode()
    viewer.user_permissions.add(Permission.objects.get(codename="view_member_pii"))
    client.force_login(viewer)
    assert url in client.get(f"/dashboard/members/{dana.pk}/").content.decode()
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer["Content-Disposition"] == f'attachment; filename="member-{dana.pk}.json"'
    assert json.loads(answer.content)["member"]["id"] == dana.pk

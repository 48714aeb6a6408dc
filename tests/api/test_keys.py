"""API keys: the command, hashing, the 401/403 rules, rotation, and the database rules."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from api.actions import create_key, hash_secret, revoke_key, rotate_key
from api.models import ApiKey
from events.models import Event
from tests.api.conftest import Bot
from tests.servers import ROOT

pytestmark = pytest.mark.django_db


def _created(out: str) -> tuple[str, ApiKey]:
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    token = lines["key"].strip()
    return token, ApiKey.objects.get(prefix=lines["prefix"].strip())


def test_create_prints_the_key_once_and_stores_only_its_hash():
    out = StringIO()
    call_command(
        "api_key", "create", "--label", "tarot bot", "--scope", "ledger:write",
        "--scope", "members:read", "--expires-in", "90d", stdout=out,
    )  # fmt: skip
    token, key = _created(out.getvalue())
    assert token.startswith(f"cnc_{key.prefix}_")
    secret = token.split("_", 2)[2]
    assert key.secret_hash == hash_secret(secret)
    assert secret not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    assert key.scopes == ["ledger:write", "members:read"]
    assert timedelta(days=89) < key.expires_at - timezone.now() <= timedelta(days=90)
    assert key.actor.username == f"api-{key.prefix}"
    assert not key.actor.has_usable_password()
    assert Event.objects.filter(kind="api.key_created", data__prefix=key.prefix).exists()
    listing = StringIO()
    call_command("api_key", "list", stdout=listing)
    assert key.prefix in listing.getvalue()
    assert secret not in listing.getvalue()


@pytest.mark.parametrize(
    "args",
    [
        ["create", "--label", "x", "--scope", "ledger:everything"],
        ["create", "--label", "", "--scope", "ledger:read"],
        ["create", "--label", "x" * 101, "--scope", "ledger:read"],
        ["create", "--label", "x", "--scope", "ledger:read", "--expires-in", "90 days"],
        ["create", "--label", "x", "--scope", "ledger:read", "--expires-in", "0d"],
        ["create", "--label", "x"],
        ["revoke", "nope1234"],
        ["rotate", "nope1234"],
    ],
)
def test_bad_arguments_raise_a_command_error_and_change_nothing(args):
    with pytest.raises(CommandError):
        call_command("api_key", *args, stdout=StringIO())
    assert ApiKey.objects.count() == 0


def test_a_bad_argument_exits_non_zero_with_one_line_and_no_traceback():
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "api_key",
            "create",
            "--label",
            "x",
            "--scope",
            "ledger:read",
            "--expires-in",
            "soon",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "not a duration" in result.stderr


def test_missing_unknown_malformed_revoked_and_expired_keys_get_the_same_401(make_bot, clock):
    bot = make_bot("members:read")
    assert bot.get("/members/1").status_code == 404  # the key works
    wrong_secret = bot.token[:-2] + ("aa" if not bot.token.endswith("aa") else "bb")
    unknown_prefix = "cnc_zzzzzzzz_" + bot.token.split("_", 2)[2]
    answers = [
        bot.client.get("/api/v1/members/1"),
        bot.client.get("/api/v1/members/1", headers={"Authorization": "Basic abc"}),
        bot.get("/members/1", token=wrong_secret),
        bot.get("/members/1", token=unknown_prefix),
        bot.get("/members/1", token="nonsense"),
        bot.get("/members/1", token="cnc_\x00\x00\x00\x00\x00\x00\x00\x00_x"),
    ]
    revoke_key(bot.key.prefix)
    answers.append(bot.get("/members/1"))
    expiring = make_bot("members:read", expires_at=timezone.now() + timedelta(hours=1))
    assert expiring.get("/members/1").status_code == 404
    clock.advance(hours=2)
    answers.append(expiring.get("/members/1"))
    bodies = {response.content for response in answers}
    assert [r.status_code for r in answers] == [401] * len(answers)
    assert len(bodies) == 1  # nothing says which keys exist
    assert answers[0]["Content-Type"] == "application/problem+json"
    assert answers[0]["WWW-Authenticate"].startswith("Bearer")


def test_a_key_without_the_scope_gets_403_and_write_implies_read(make_bot, alice):
    reader = make_bot("ledger:read")
    refused = reader.post(
        "/ledger/awards", {"member_id": alice.pk, "amount": 5, "reason": "x"}, key="k"
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    writer = make_bot("ledger:write")
    assert writer.get(f"/ledger/members/{alice.pk}/balance").status_code == 200
    assert make_bot("members:read").get(f"/ledger/members/{alice.pk}/balance").status_code == 403


def test_revocation_takes_effect_on_the_next_request(make_bot):
    bot = make_bot("members:read")
    assert bot.get("/members/1").status_code == 404
    revoke_key(bot.key.prefix)
    assert bot.get("/members/1").status_code == 401
    assert revoke_key(bot.key.prefix).revoked_at is not None  # twice: harmless


def test_rotate_issues_a_new_key_and_the_old_one_works_for_the_grace_period(make_bot, clock):
    old = make_bot("members:read")
    out = StringIO()
    call_command("api_key", "rotate", old.key.prefix, "--grace", "1h", stdout=out)
    token, new_key = _created(out.getvalue())
    new = Bot.__new__(Bot)
    new.__init__(type("Issued", (), {"key": new_key, "token": token}))
    assert new_key.actor_id == old.key.actor_id
    assert new_key.scopes == old.key.scopes
    assert old.get("/members/1").status_code == 404
    assert new.get("/members/1").status_code == 404
    clock.advance(minutes=61)
    assert old.get("/members/1").status_code == 401
    assert new.get("/members/1").status_code == 404
    with pytest.raises(CommandError, match=r"rotated already|revoked, expired"):
        call_command("api_key", "rotate", old.key.prefix, stdout=StringIO())


def test_last_used_is_recorded(make_bot):
    bot = make_bot("members:read")
    assert bot.key.last_used_at is None
    bot.get("/members/1")
    bot.key.refresh_from_db()
    assert bot.key.last_used_at is not None


def _raw_update(sql: str, params: list) -> None:
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_the_database_refuses_malformed_keys():
    key = create_key(label="db rules", scopes=["ledger:read"]).key
    table = ApiKey._meta.db_table
    _raw_update(f"UPDATE {table} SET prefix = 'BAD!' WHERE id = %s", [key.pk])  # prefix_format
    _raw_update(f"UPDATE {table} SET secret_hash = 'plain' WHERE id = %s", [key.pk])  # hash_format
    _raw_update(f"UPDATE {table} SET label = '' WHERE id = %s", [key.pk])  # label_not_blank
    _raw_update(  # expires_after_created
        f"UPDATE {table} SET expires_at = created_at WHERE id = %s", [key.pk]
    )
    _raw_update(  # revoked_after_created
        f"UPDATE {table} SET revoked_at = %s WHERE id = %s",
        [key.created_at - timedelta(days=1), key.pk],
    )
    _raw_update(f"UPDATE {table} SET replaced_by_id = id WHERE id = %s", [key.pk])
    other = create_key(label="other", scopes=["ledger:read"]).key
    _raw_update(f"UPDATE {table} SET prefix = %s WHERE id = %s", [key.prefix, other.pk])


def test_rotating_twice_is_refused_and_writes_nothing():
    key = create_key(label="x", scopes=["ledger:read"]).key
    rotate_key(key.prefix)
    count = ApiKey.objects.count()
    with pytest.raises(Exception, match="rotated already"):
        rotate_key(key.prefix)
    assert ApiKey.objects.count() == count


def test_the_database_holds_one_answer_per_key_and_idempotency_key(bot, alice):
    from api.models import IdempotentRequest

    bot.post("/ledger/awards", {"member_id": alice.pk, "amount": 1, "reason": "x"}, key="k1")
    bot.post("/ledger/awards", {"member_id": alice.pk, "amount": 2, "reason": "x"}, key="k2")
    first, second = IdempotentRequest.objects.order_by("pk")
    table = IdempotentRequest._meta.db_table
    _raw_update(f"UPDATE {table} SET key = 'k1' WHERE id = %s", [second.pk])  # once
    _raw_update(f"UPDATE {table} SET key = '' WHERE id = %s", [first.pk])  # key_not_blank
    _raw_update(f"UPDATE {table} SET status = 42 WHERE id = %s", [first.pk])  # status_valid

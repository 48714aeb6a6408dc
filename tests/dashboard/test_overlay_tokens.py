"""Overlay tokens: the command, the database's rules, the overlay pages (no cookies)."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from dashboard import actions
from dashboard.exceptions import InvalidOverlayScope, InvalidToken, TokenRevoked
from dashboard.models import OverlayToken
from events.models import Event
from tests.servers import ROOT

pytestmark = pytest.mark.django_db


def test_create_prints_the_overlay_url_and_token_and_records_an_event():
    out = StringIO()
    call_command(
        "overlay_token", "create", "--scope", "leaderboard:points", "--label", "main", stdout=out
    )
    token = OverlayToken.objects.get()
    assert f"/overlays/{token.token}/leaderboard/" in out.getvalue()
    assert f"token: {token.token}" in out.getvalue()
    assert (token.scope, token.label, token.revoked_at) == ("leaderboard:points", "main", None)
    assert Event.objects.filter(
        kind="overlay.token_created", subject=f"overlay:{token.pk}"
    ).exists()


def test_list_shows_active_tokens_and_all_shows_revoked_ones():
    keep = actions.create_token("ticker", label="keep")
    gone = actions.revoke(actions.create_token("events", label="gone"))
    out = StringIO()
    call_command("overlay_token", "list", stdout=out)
    assert keep.key in out.getvalue()
    assert gone.key not in out.getvalue()
    out = StringIO()
    call_command("overlay_token", "list", "--all", stdout=out)
    assert gone.key in out.getvalue()
    assert "revoked" in out.getvalue()


def test_revoke_by_token_or_key_prefix_and_twice_is_harmless():
    token = actions.create_token("ticker")
    call_command("overlay_token", "revoke", token.key[:8], stdout=StringIO())
    token.refresh_from_db()
    assert token.revoked_at is not None
    revoked_at = token.revoked_at
    call_command("overlay_token", "revoke", token.token, stdout=StringIO())
    token.refresh_from_db()
    assert token.revoked_at == revoked_at
    assert Event.objects.filter(kind="overlay.token_revoked").count() == 1


@pytest.mark.parametrize(
    "args",
    [
        ["create", "--scope", "leaderboard:"],
        ["create", "--scope", "everything"],
        ["create", "--scope", "tournament:0"],
        ["create", "--scope", "ticker", "--label", "x" * 101],
        ["revoke", "nope"],
        ["revoke", "abcdef:forged-signature"],
    ],
)
def test_bad_arguments_raise_a_command_error_and_change_nothing(args):
    before = OverlayToken.objects.count()
    with pytest.raises(CommandError):
        call_command("overlay_token", *args, stdout=StringIO())
    assert OverlayToken.objects.count() == before


def test_a_bad_scope_exits_non_zero_with_one_line_and_no_traceback():
    result = subprocess.run(
        [sys.executable, "manage.py", "overlay_token", "create", "--scope", "bogus"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "not a scope" in result.stderr


def test_resolve_refuses_forged_unknown_and_revoked_tokens():
    token = actions.create_token("events")
    assert actions.resolve(token.token) == token
    with pytest.raises(InvalidToken):
        actions.resolve(token.key)  # unsigned
    with pytest.raises(InvalidToken):
        actions.resolve(token.token[:-1] + ("x" if token.token[-1] != "x" else "y"))
    actions.revoke(token)
    with pytest.raises(TokenRevoked):
        actions.resolve(token.token)
    with pytest.raises(InvalidOverlayScope):
        actions.create_token("leaderboard:Points")


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("scope", "leaderboard:", "dashboard_overlaytoken_scope_valid"),
        ("scope", "all", "dashboard_overlaytoken_scope_valid"),
        ("key", "short", "dashboard_overlaytoken_key_format"),
        ("key", "has spaces in it here!", "dashboard_overlaytoken_key_format"),
    ],
)
def test_the_database_refuses_bad_tokens(column, value, rule):
    row = {"key": "A" * 22, "scope": "events", "label": ""}
    row[column] = value
    with (
        pytest.raises(IntegrityError, match=rule),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO dashboard_overlaytoken (key, scope, label, created_at)"
            " VALUES (%s, %s, %s, CURRENT_TIMESTAMP)",
            [row["key"], row["scope"], row["label"]],
        )


def test_the_database_refuses_a_revocation_before_creation():
    token = actions.create_token("events")
    earlier = (
        "created_at - INTERVAL '1 day'"
        if connection.vendor == "postgresql"
        else "datetime(created_at, '-1 day')"
    )
    with (
        pytest.raises(IntegrityError, match="revoked_after_created"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"UPDATE dashboard_overlaytoken SET revoked_at = {earlier} WHERE id = %s", [token.pk]
        )


def test_the_overlay_page_sets_no_cookie_and_points_at_its_stream(client):
    token = actions.create_token("leaderboard:points")
    response = client.get(token.path)
    assert response.status_code == 200
    assert not response.cookies
    assert "Set-Cookie" not in response.headers
    body = response.content.decode()
    assert f"/ws/stream/?token={token.token}&amp;view=leaderboard" in body
    assert 'data-scope="leaderboard:points"' in body


def test_overlay_pages_refuse_unknown_revoked_and_mismatched_tokens(client):
    ticker = actions.create_token("ticker")
    assert client.get(f"/overlays/{ticker.token}/leaderboard/").status_code == 404
    assert client.get(f"/overlays/{ticker.token}/ticker/").status_code == 200
    assert client.get("/overlays/not-a-token/ticker/").status_code == 404
    actions.revoke(ticker)
    assert client.get(f"/overlays/{ticker.token}/ticker/").status_code == 410


def test_overlay_options_in_the_url_reach_the_page(client):
    board = actions.create_token("leaderboard:points", label="main")
    page = client.get(
        f"{board.path}?rows=5&theme=light&accent=%23FF8800", secure=True
    ).content.decode()
    assert 'class="stage theme-light"' in page
    assert 'data-limit="5"' in page
    assert 'data-accent="#ff8800"' in page
    default = client.get(board.path, secure=True).content.decode()
    assert 'class="stage theme-dark"' in default
    assert 'data-limit="10"' in default  # the leaderboard's own number
    ticker = actions.create_token("ticker")
    only = client.get(f"{ticker.path}?kinds=member.registered", secure=True).content.decode()
    assert 'data-kinds="member.registered"' in only


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("rows=0", "rows is a whole number from 1 to 25"),
        ("rows=ten", "rows is a whole number"),
        ("theme=neon", "theme is one of dark, light, clear"),
        ("accent=orange", "accent is a colour like #ff8800"),
        ("accent=%23ff88001", "accent is a colour"),
        ("kinds=member.updated", "kinds are among"),
    ],
)
def test_an_overlay_option_it_cannot_use_is_a_400_naming_it(client, query, said):
    ticker = actions.create_token("ticker")
    response = client.get(f"{ticker.path}?{query}", secure=True)
    assert response.status_code == 400
    assert said in response.content.decode()
    board = actions.create_token("leaderboard:points")
    refused = client.get(f"{board.path}?kinds=member.registered", secure=True)
    assert refused.status_code == 400
    assert "kinds is an option of the ticker" in refused.content.decode()


def test_the_overlays_page_offers_copy_preview_and_the_obs_size(client):
    from tests.dashboard.test_roles import make_user

    client.force_login(make_user("Organiser"))
    token = actions.create_token("leaderboard:points", label="main")
    page = client.get("/dashboard/overlays/", secure=True).content.decode()
    assert f'data-copy="https://testserver{token.path}"' in page
    assert "overlays/previews/leaderboard" in page
    assert "1920" in page
    assert "1080" in page

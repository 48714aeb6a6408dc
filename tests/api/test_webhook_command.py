"""`manage.py webhook`: the same actions as the API; one line and a non-zero exit on bad
arguments."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from api.actions import create_key
from api.models import WebhookEndpoint

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = StringIO()
    call_command("webhook", *args, stdout=out)
    return out.getvalue()


def test_create_prints_the_secret_once_and_list_never_shows_it():
    key = create_key(label="hooks", scopes=["events:read"]).key
    made = run(
        "create", "--key", key.prefix, "--url", "https://bot.example.org/h", "--scope", "ticker"
    )
    endpoint = WebhookEndpoint.objects.get()
    assert f"secret:  {endpoint.secret}" in made
    listed = run("list")
    assert endpoint.secret not in listed
    assert f"{endpoint.pk}  {key.prefix}  https://bot.example.org/h  ticker" in listed
    assert "disabled" in run("disable", str(endpoint.pk))
    assert not WebhookEndpoint.objects.get().enabled
    run("enable", str(endpoint.pk))
    assert WebhookEndpoint.objects.get().enabled
    assert run("deliveries", str(endpoint.pk)) == "no deliveries\n"
    run("delete", str(endpoint.pk))
    assert not WebhookEndpoint.objects.exists()


def test_refusals_are_command_errors_and_write_nothing():
    key = create_key(label="no events", scopes=["ledger:read"]).key
    with pytest.raises(CommandError, match="events:read"):
        run("create", "--key", key.prefix, "--url", "https://bot.example.org/h")
    with pytest.raises(CommandError, match="no key has prefix"):
        run("create", "--key", "zzzzzzzz", "--url", "https://bot.example.org/h")
    with pytest.raises(CommandError, match="no webhook 42"):
        run("enable", "42")
    with pytest.raises(CommandError, match="no delivery 7"):
        run("redeliver", "7")
    assert not WebhookEndpoint.objects.exists()


def test_a_bad_argument_is_one_line_and_a_non_zero_exit():
    result = subprocess.run(
        [sys.executable, "manage.py", "webhook", "enable", "abc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "is not an id" in result.stderr

"""A bad environment stops Concord at start with one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    child_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/concord"}, "DATABASE_URL has scheme 'mysql'"),
        ({"DATABASE_URL": "postgres://localhost"}, "DATABASE_URL names no database"),
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL='http://localhost:6379' must start"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe' is not a boolean"),
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY must be set"),
        (
            {"DATABASE_CONN_MAX_AGE": "soon", "DATABASE_URL": "postgres://h/db"},
            "not a whole number",
        ),
        (
            {
                "DATABASE_POOL": "4",
                "DATABASE_CONN_MAX_AGE": "60",
                "DATABASE_URL": "postgres://h/db",
            },
            "DATABASE_POOL and DATABASE_CONN_MAX_AGE exclude each other",
        ),
    ],
)
def test_bad_environment_fails_at_start_with_one_line(env, message):
    result = manage("check", env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("concord: configuration error:")
    assert message in lines[0]


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "daphne", "config.asgi:application"],
        [sys.executable, "-m", "celery", "-A", "config", "worker"],
        [sys.executable, "-c", "import config.wsgi"],
    ],
    ids=["daphne", "celery", "wsgi"],
)
def test_every_entry_point_refuses_a_bad_environment_in_one_line(command):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env["DJANGO_DEBUG"] = "maybe"
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "concord: configuration error: DJANGO_DEBUG='maybe' is not a boolean"
        " (use 1/0, true/false, yes/no)"
    ]


def test_command_with_bad_arguments_exits_nonzero_with_one_line():
    result = manage("integrity_report", "--check", "no.such.check", env={})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "CommandError: unknown integrity check(s): no.such.check (see --list)"
    ]


def test_production_settings_pass_the_deploy_check():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "x" * 20 + "-production-like-secret-key-for-the-check-" + "y" * 20,
            "DJANGO_ALLOWED_HOSTS": "concord.example.com",
        },
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_connections_name_nothing_for_pgtrigger_to_ignore():
    """Set (to an empty list) so trigger functions do not raise and abort a
    subtransaction on every call; the triggers themselves still fire (every
    `test_constraints` trigger test)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('pgtrigger.ignore'), current_setting('plan_cache_mode')"
        )
        assert cursor.fetchone() == ("{}", "force_generic_plan")


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "9123"}, "http://127.0.0.1:9123"),
        ({"HOST": "0.0.0.0", "PORT": "8080"}, "http://0.0.0.0:8080"),
        ({"PORT": "9123", "CONCORD_SITE_URL": "https://c.example.org"}, "https://c.example.org"),
    ],
)
def test_printed_links_follow_the_servers_host_and_port_unless_the_site_url_is_set(env, url):
    """What `overlay_token create` and `demo_admin` print links with (issue: it said
    port 8000 whatever the server's port)."""
    base = dict.fromkeys(("HOST", "PORT", "CONCORD_SITE_URL"), "")
    code = "from django.conf import settings; print(settings.CONCORD_SITE_URL)"
    result = manage("shell", "-c", code, env={**base, **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == url

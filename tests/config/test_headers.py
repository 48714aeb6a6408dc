"""Security headers: one Content-Security-Policy on every page (dashboard, overlays,
admin), and HSTS whose includeSubDomains and preload are off unless opted into.

Why: the CSP is what keeps an injected tag from running if an escaping bug ever lets one
through (nothing inline runs, scripts and styles come only from static/); HSTS's two
options reach beyond Concord (every subdomain; browsers' built-in lists), so only the
domain's owner turns them on. tests/browser/test_csp.py proves the pages work under it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from dashboard.actions import create_token
from tests.servers import ROOT

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    parts = [part.strip().split(None, 1) for part in header.split(";") if part.strip()]
    return dict(parts)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_dashboard_pages_carry_the_policy(staff_client):
    for path in ["/dashboard/", "/dashboard/members/", "/dashboard/overlays/"]:
        response = staff_client.get(path)
        assert response.status_code == 200, path
        assert directives(response) == POLICY, path
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_overlay_pages_carry_the_policy_and_no_cookie(client):
    for scope in ["leaderboard:points", "ticker"]:
        response = client.get(create_token(scope, label="headers").path)
        assert response.status_code == 200, scope
        assert directives(response) == POLICY, scope
        assert not response.cookies


def test_admin_pages_carry_the_policy(client, staff_client):
    assert directives(client.get("/admin/login/")) == POLICY
    assert directives(staff_client.get("/admin/accounts/member/")) == POLICY


def test_the_policy_allows_nothing_inline_and_no_eval(client):
    header = client.get("/admin/login/")["Content-Security-Policy"]
    for loophole in ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "data:", "*"]:
        assert loophole not in header


def test_refused_odd_input_carries_the_policy_too(client):
    response = client.get("/dashboard/members/?q=%00")
    assert response.status_code == 400
    assert directives(response) == POLICY


def test_dashboard_pages_configure_htmx_to_inject_no_inline_style(staff_client):
    body = staff_client.get("/dashboard/").content.decode()
    config = body.split('<meta name="htmx-config" content=\'', 1)[1].split("'", 1)[0]
    assert json.loads(config) == {
        "includeIndicatorStyles": False,
        # New content is wired up in the swap's own task, so a key pressed in a field
        # that just arrived is never lost (test_live_refresh.py).
        "defaultSettleDelay": 0,
        "allowEval": False,
        "allowScriptTags": False,
        # The control room's refusals (403, 409, 422) are swapped in beside their
        # controls (dashboard/controls.py); other errors still are not.
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "40[39]|422", "swap": True, "error": False},
            {"code": "[45]..", "swap": False, "error": True},
        ],
    }


def test_templates_hold_no_inline_script_style_or_handler():
    """What the policy would refuse in a browser (and log as a violation)."""
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        name = path.relative_to(ROOT)
        found += [f"{name}: <style> block" for _ in range(text.count("<style"))]
        found += [f"{name}: style attribute" for _ in range(text.count(' style="'))]
        found += [f"{name}: event handler" for _ in re.finditer(r"\son[a-z]+=", text)]
        found += [f"{name}: javascript: URL" for _ in range(text.count("javascript:"))]
        for tag in text.split("<script")[1:]:
            if "src=" not in tag.split(">", 1)[0]:
                found.append(f"{name}: inline <script>")
    assert found == []


# --- HSTS, in a production-like process (settings are read once, at start) -------------

HSTS_PROBE = """
import django
django.setup()
from django.test import Client
response = Client().get("/admin/login/", secure=True, HTTP_HOST="concord.example.com")
print(response.status_code, response.get("Strict-Transport-Security", "-"))
"""


def production(extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "hsts-test-0123456789abcdef0123456789abcdef0123456789abcdef",
            "DJANGO_ALLOWED_HOSTS": "concord.example.com",
            **extra,
        }
    )
    command = list(args) or ["-c", HSTS_PROBE]
    return subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("extra", "header"),
    [
        ({}, "max-age=31536000"),
        ({"DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1"}, "max-age=31536000; includeSubDomains"),
        (
            {"DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "DJANGO_SECURE_HSTS_PRELOAD": "1"},
            "max-age=31536000; includeSubDomains; preload",
        ),
    ],
    ids=["default", "subdomains", "preload"],
)
def test_hsts_subdomains_and_preload_are_off_unless_opted_into(extra, header):
    result = production(extra)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(None, 1) == ["200", header + "\n"]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "DJANGO_SECURE_HSTS_PRELOAD": "1"},
    ],
    ids=["default", "opted-in"],
)
def test_the_deploy_check_passes_with_hsts_options_off_or_on(extra):
    result = production(extra, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_warnings_for_options_left_off_are_silenced():
    probe = (
        "import django; django.setup(); from django.conf import settings; print(sorted("
        "c for c in settings.SILENCED_SYSTEM_CHECKS if c.startswith('security.')))"
    )
    default = production({}, "-c", probe)
    assert default.stdout.strip() == "['security.W005', 'security.W021']", default.stderr
    subdomains = production({"DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1"}, "-c", probe)
    assert subdomains.stdout.strip() == "['security.W021']", subdomains.stderr


def test_preload_without_subdomains_stops_at_start_with_one_line():
    result = production({"DJANGO_SECURE_HSTS_PRELOAD": "1"}, "manage.py", "check")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "concord: configuration error: DJANGO_SECURE_HSTS_PRELOAD=1 needs"
        " DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=1 and DJANGO_SECURE_HSTS_SECONDS of at least"
        " 31536000 (the preload list requires both)"
    ]

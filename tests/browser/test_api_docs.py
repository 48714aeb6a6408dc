"""The Bot API's interactive docs work with no internet: headless Chromium, every request
to another host refused, loads /api/v1/docs from daphne (DEBUG off) and Swagger UI lists
the operations, with no Content-Security-Policy violation."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

import pytest
from django.db import connection

from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.servers import database_url_for_tests, free_port, spawn_daphne, stop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_renders_offline_under_the_policy(page, tmp_path):
    if connection.vendor == "postgresql":
        env = {"DATABASE_URL": database_url_for_tests(tmp_path)}
    else:
        env = {"DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}"}
    port = free_port()
    server = spawn_daphne(env, port, stderr=(tmp_path / "daphne.log").open("wb"))
    elsewhere: list[str] = []
    console: list[str] = []

    def only_here(route):
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            elsewhere.append(route.request.url)
            return route.abort()
        return route.continue_()

    try:
        page.route("**/*", only_here)
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", lambda msg: console.append(msg.text))
        page.goto(f"http://127.0.0.1:{port}/api/v1/docs")
        page.wait_for_selector('[data-path="/api/v1/ledger/awards"]')
        assert page.locator(".opblock").count() >= 20
        violations = page.evaluate("() => window.__csp")
    finally:
        with contextlib.suppress(Exception):
            page.unroute("**/*")
        stop(server)
    assert elsewhere == []
    assert violations == [], violations
    assert not [line for line in console if "Refused to" in line], console

"""The servers the dashboard UI tests run against: one private redis-server and one daphne
(with the relay) per module, on PostgreSQL; each test's data is made by a child process
(overlay tokens are signed with the servers' SECRET_KEY)."""

from __future__ import annotations

import shutil

import pytest

from tests.browser.dashboard_ui.helpers import ARTIFACTS, LONG_NAME, STAFF, Site, forget_cached
from tests.servers import (
    database_url_for_tests,
    free_port,
    redis_server,
    relay,
    run_django,
    spawn_daphne,
    stop,
)


@pytest.fixture(scope="session")
def dashboard_ui_artifacts():
    """`test-artifacts/dashboard-ui/`, emptied once per run: every module adds to it."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def servers(request, django_db_setup, tmp_path_factory):
    """One private redis-server and one daphne for the module; yields (base URL, env).
    Their logs: `<module>-daphne.log` and `<module>-relay.log` beside the screenshots."""
    tmp_path = tmp_path_factory.mktemp("dashboard-ui")
    if not database_url_for_tests(tmp_path).startswith("postgres"):
        pytest.skip("the servers need a database shared with the test (PostgreSQL)")
    artifacts = request.getfixturevalue("dashboard_ui_artifacts")
    module = request.module.__name__.rsplit(".", 1)[-1]
    daphne_log = artifacts / f"{module}-daphne.log"
    with daphne_log.open("wb") as log, redis_server() as (redis_url, _redis):
        env = {
            "DATABASE_URL": database_url_for_tests(tmp_path),
            "REDIS_URL": redis_url,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",
            # A module's own settings for its servers (e.g. test_home_large_boards).
            **getattr(request.module, "SERVER_ENV", {}),
        }
        port = free_port()
        daphne = spawn_daphne(env, port, stderr=log)
        try:
            with relay(env, artifacts / f"{module}-relay.log"):
                yield f"http://127.0.0.1:{port}", env
        finally:
            stop(daphne)


@pytest.fixture
def site(servers):
    """This test's data (the database is emptied after each test), made by another process."""
    base, env = servers
    forget_cached(env)  # what the servers cached about the last test's data
    data = run_django(
        env,
        f"""
        from django.contrib.auth import get_user_model
        from accounts.actions import register_member
        from accounts.models import Member
        from dashboard.actions import create_token
        from ledger.actions import award
        get_user_model().objects.create_superuser(
            {STAFF[0]!r}, "ui-ops@example.org", {STAFF[1]!r})
        names = {{"ada": "Ada", "brook": "Brook", "cyd": "Cyd", "long": {LONG_NAME!r}}}
        ids = {{
            key: register_member(
                platform="web", external_id=f"ui-{{key}}", username=name
            ).member.pk
            for key, name in names.items()
        }}
        # Everyone starts with the welcome bonus (100); make the ranks distinct.
        for key, amount in (("long", 1234500), ("ada", 900), ("brook", 400)):
            award(Member.objects.get(pk=ids[key]), amount, currency="points",
                  reason="setup", idempotency_key=f"ui-setup-{{key}}")
        board = create_token("leaderboard:points", label="ui board")
        ticker = create_token("ticker", label="ui ticker")
        print(json.dumps({{"members": ids, "board": board.path, "ticker": ticker.path}}))
        """,
    )
    return Site(base, env, data)


@pytest.fixture
def staff_state(site, browser):
    """A logged-in staff session (cookies), to start a dashboard context from."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{site.base}/admin/login/?next=/dashboard/")
        page.fill("#id_username", STAFF[0])
        page.fill("#id_password", STAFF[1])
        page.click("input[type=submit]")
        page.wait_for_url(f"{site.base}/dashboard/")
        return context.storage_state()
    finally:
        context.close()

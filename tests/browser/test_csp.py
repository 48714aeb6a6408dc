"""The pages work under the Content-Security-Policy, in headless Chromium against daphne:
the dashboard and a leaderboard overlay load with no policy violation and still update
live over their websockets (so `connect-src 'self'` covers same-origin ws:), and the
admin's pages load with no violation either.

Predicates given to `wait_for_function` are functions (`"() => ..."`): Playwright evaluates
a bare expression string with the page's `eval` on every poll, which the policy refuses.

A violation is what the browser refuses and reports: the `securitypolicyviolation` event
(recorded from before any page script runs) and Chromium's "Refused to ..." console
line. On PostgreSQL the servers use a private Redis and `manage.py run_relay`; on
embedded defaults daphne shares the SQLite test database, and only the tests without a
live update run.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest

from tests.servers import (
    ROOT,
    database_url_for_tests,
    free_port,
    redis_server,
    relay,
    run_django,
    spawn_daphne,
    stop,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = ROOT / "test-artifacts" / "csp"
STAFF = ("csp-ops", "correct-horse-csp-42")
LIVE = 10_000  # ms: an award shows on a connected page within this

# Runs in every page before its own scripts: keeps each violation the page reports.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.effectiveDirective}: ${e.blockedURI || "inline"}`
    + ` (${e.sourceFile || "?"}:${e.lineNumber}) ${e.sample || ""}`);
});
"""


@pytest.fixture
def servers(tmp_path):
    """daphne (DEBUG off, as in production) on the test database; yields (base, env).
    One per test: each test's data is new, and on embedded defaults daphne's cache is its
    own memory, which only a fresh process forgets."""
    from django.db import connection

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        log = stack.enter_context((ARTIFACTS / "daphne.log").open("wb"))
        env = {"DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "INFO"}
        if connection.vendor == "postgresql":
            redis_url, _redis = stack.enter_context(redis_server())
            env |= {"DATABASE_URL": database_url_for_tests(tmp_path), "REDIS_URL": redis_url}
        else:
            env["DATABASE_URL"] = f"sqlite:///{connection.settings_dict['NAME']}"
        port = free_port()
        daphne = spawn_daphne(env, port, stderr=log)
        try:
            if connection.vendor == "postgresql":  # embedded: daphne runs its own relay
                stack.enter_context(relay(env, ARTIFACTS / "relay.log"))
            yield f"http://127.0.0.1:{port}", env
        finally:
            stop(daphne)


@pytest.fixture
def site(servers):
    """A staff login, two members and a leaderboard overlay link, made by another process
    (the link is signed with the servers' secret key)."""
    base, env = servers
    data = run_django(
        env,
        f"""
        from django.contrib.auth import get_user_model
        from accounts.actions import register_member
        from dashboard.actions import create_token
        get_user_model().objects.create_superuser(
            {STAFF[0]!r}, "csp-ops@example.org", {STAFF[1]!r})
        ids = [register_member(platform="web", external_id=f"csp-{{n}}", username=n).member.pk
               for n in ("Ada", "Brook")]
        print(json.dumps({{"members": ids, "overlay": create_token("leaderboard:points").path}}))
        """,
    )
    return base, env, data


def post_award(env: dict[str, str], member_id: int, amount: int) -> None:
    run_django(
        env,
        f"""
        from accounts.models import Member
        from ledger.actions import award
        award(Member.objects.get(pk={member_id}), {amount}, currency="points", reason="csp",
              idempotency_key={uuid.uuid4().hex!r})
        print("{{}}")
        """,
    )


class Watched:
    """A page whose policy violations (event and console) and uncaught errors are kept."""

    def __init__(self, context):
        context.add_init_script(RECORD_VIOLATIONS)
        self.page = context.new_page()
        self.page.set_default_timeout(15_000)
        self.refused: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _console(self, msg) -> None:
        if "Content Security Policy" in msg.text or msg.text.startswith("Refused to"):
            self.refused.append(msg.text)

    def open(self, url: str):
        """Go to `url`; its response, which must carry the policy."""
        response = self.page.goto(url)
        assert response.ok, f"{url}: {response.status}"
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, f"{url}: no policy ({policy!r})"
        return response

    def assert_clean(self, where: str) -> None:
        """No violation on this page so far (read before leaving it), no uncaught error."""
        events = self.page.evaluate("window.__csp")
        assert events == [], f"{where}: policy violations {events}"
        assert self.refused == [], f"{where}: refused {self.refused}"
        assert self.errors == [], f"{where}: uncaught errors {self.errors}"

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def log_in(watched: Watched, base: str, then: str) -> None:
    watched.open(f"{base}/admin/login/?next={then}")
    watched.assert_clean("admin login")
    watched.page.fill("#id_username", STAFF[0])
    watched.page.fill("#id_password", STAFF[1])
    watched.page.click("input[type=submit]")
    watched.page.wait_for_url(f"{base}{then}")


# The award comes from another process: on embedded defaults daphne's cache (its own
# memory) would not see it, so the live half runs where the cache is shared (Redis).
@pytest.mark.postgres
@pytest.mark.redis
def test_dashboard_runs_under_the_policy_and_still_updates_live(site, browser):
    from playwright.sync_api import expect

    base, env, data = site
    ada = data["members"][0]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        watched = Watched(context)
        page = watched.page
        log_in(watched, base, "/dashboard/")
        watched.open(f"{base}/dashboard/")
        # The htmx websocket opened (the live dot), and a pushed fragment is swapped in.
        expect(page.locator("html")).to_have_attribute("data-live", "connected", timeout=LIVE)
        post_award(env, ada, 41)
        row = page.locator(f"#leaderboard-points tbody tr[data-member-id='{ada}'] td.num")
        expect(row).to_have_attribute("data-amount", "141", timeout=LIVE)
        watched.screenshot("dashboard")
        watched.assert_clean("dashboard home, after a live update")

        for path in ["/dashboard/members/", "/dashboard/tournaments/", "/dashboard/stories/"]:
            watched.open(f"{base}{path}")
            watched.assert_clean(path)
        # The overlays page polls its fleet panel through htmx (an XHR: connect-src).
        watched.open(f"{base}/dashboard/overlays/")
        with page.expect_response(lambda r: "/dashboard/overlays/fleet/" in r.url) as polled:
            pass
        assert polled.value.ok
        watched.assert_clean("/dashboard/overlays/, after a fleet poll")
    finally:
        context.close()


# Live, so PostgreSQL and Redis only (as above).
@pytest.mark.postgres
@pytest.mark.redis
def test_overlay_runs_under_the_policy_and_still_updates_live(site, browser):
    from playwright.sync_api import expect

    base, env, data = site
    brook = data["members"][1]
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        watched = Watched(context)
        page = watched.page
        watched.open(f"{base}{data['overlay']}")
        page.wait_for_function(
            "() => !!(window.concordOverlay && window.concordOverlay.connected())", timeout=LIVE
        )
        post_award(env, brook, 1234)
        row = page.locator(f"#stage .lb-row:not(.leaving)[data-member-id='{brook}']")
        expect(row).to_have_attribute("data-amount", "1334", timeout=LIVE)
        page.wait_for_timeout(1_000)  # the row's move animation (style set from script)
        watched.screenshot("overlay")
        watched.assert_clean("leaderboard overlay, after a live update")
    finally:
        context.close()


def test_admin_pages_run_under_the_policy(site, browser):
    base, _env, data = site
    ada = data["members"][0]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        watched = Watched(context)
        log_in(watched, base, "/admin/")
        watched.assert_clean("/admin/")
        for path in [
            "/admin/accounts/member/",
            f"/admin/accounts/member/{ada}/change/",
            "/admin/accounts/member/add/",
            "/admin/ledger/account/",
            "/admin/ledger/transfer/",
            "/admin/events/event/",
            "/admin/tournaments/tournament/add/",
            "/admin/narrative/story/add/",
        ]:
            watched.open(f"{base}{path}")
            watched.assert_clean(path)
    finally:
        context.close()


def test_the_recorder_sees_what_the_policy_refuses(site, browser):
    """The checks above can fail: an inline style and an inline script are refused and
    both show up (so an empty record means nothing was refused)."""
    base, _env, data = site
    context = browser.new_context()
    try:
        watched = Watched(context)
        watched.open(f"{base}{data['overlay']}")
        watched.page.evaluate(
            """() => {
              document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>');
              const s = document.createElement("script");
              s.textContent = "window.__ran = true";
              document.body.append(s);
            }"""
        )
        watched.page.wait_for_function("() => window.__csp.length >= 2")
        events = " ".join(watched.page.evaluate("window.__csp"))
        assert "style-src-attr" in events
        assert "script-src-elem" in events
        assert watched.page.evaluate("window.__ran") is None
    finally:
        context.close()

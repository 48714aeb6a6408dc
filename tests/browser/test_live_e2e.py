"""End to end, on PostgreSQL and Redis: daphne and the relay (`manage.py run_relay`) run
as real processes; the staff dashboard and a leaderboard overlay are open in headless
Chromium; awards are posted from other processes and both pages follow. Then daphne is
killed (SIGKILL), an award is posted while it is down, daphne comes back on the same port,
and both pages recover and show it.

Everything the servers use is private to this test: its own redis-server (channel-layer
pub/sub is server-wide, and a shared broker's default queue is shared with whoever else
runs a worker on it) and the test database. Members and the overlay token are made by a
child process like the awards, so every event goes through the private Redis.

Artifacts (screenshots, daphne and worker logs, browser consoles) go to
`test-artifacts/live-e2e/` in the checkout.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

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

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

ARTIFACTS = ROOT / "test-artifacts" / "live-e2e"
LIVE = 10_000  # ms: an award shows on a connected page within this
# ms: reconnecting after daphne is back. The overlay backs off at most 10 s (jittered);
# htmx's ws extension waits up to 2**min(retries, 6) s (full jitter) between attempts.
RECOVER_OVERLAY = 30_000
RECOVER_DASHBOARD = 90_000
STAFF = ("e2e-ops", "correct-horse-e2e-42")
ROUTINE = re.compile(r"Sending due task|\] received$|succeeded in [0-9.e-]+s: 0$")


# --- processes --------------------------------------------------------------------------


def post_award(env: dict[str, str], member_id: int, amount: int, key: str) -> dict:
    """Award points in another process; its event's seq and the wallet's balance."""
    return run_django(
        env,
        f"""
        from accounts.models import Member
        from events.models import Event
        from ledger.models import Account
        from ledger.actions import award
        member = Member.objects.get(pk={member_id})
        transfer = award(member, {amount}, currency="points", reason="e2e", idempotency_key={key!r})
        event = Event.objects.get(subject=f"transfer:{{transfer.id}}")
        print(json.dumps({{
            "seq": event.seq,
            "balance": Account.objects.get(member=member, currency__code="points").balance,
        }}))
        """,
    )


class Stack:
    """Private redis-server, daphne (restartable on its port) and the relay."""

    def __init__(self, tmp_path: Path, redis_url: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            "DATABASE_URL": database_url_for_tests(tmp_path),
            "REDIS_URL": redis_url,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",
        }
        self.daphne: subprocess.Popen | None = None
        self.relay: subprocess.Popen | None = None
        self.starts = 0
        self.logs: list[Path] = []
        self._files: list = []

    def log_file(self, name: str):
        path = ARTIFACTS / name
        handle = path.open("wb")
        self._files.append(handle)
        self.logs.append(path)
        return handle

    def start_daphne(self) -> None:
        self.starts += 1
        self.daphne = spawn_daphne(
            self.env, self.port, stderr=self.log_file(f"daphne-{self.starts}.log")
        )

    def kill_daphne(self) -> None:
        os.kill(self.daphne.pid, signal.SIGKILL)  # our own child: no warm shutdown
        self.daphne.wait(timeout=10)

    def close(self) -> None:
        if self.daphne is not None:
            stop(self.daphne)
        for handle in self._files:
            handle.close()

    def diagnostics(self) -> str:
        parts = []
        for path in self.logs:
            with contextlib.suppress(OSError):
                lines = path.read_text(errors="replace").splitlines()
                # Leave out routine lines; the file keeps everything.
                text = "\n".join(line for line in lines if not ROUTINE.search(line))
                parts.append(f"--- {path.name} (last 4000 chars) ---\n{text[-4000:]}")
        return "\n".join(parts)


@pytest.fixture
def stack(tmp_path):
    if not database_url_for_tests(tmp_path).startswith("postgres"):
        pytest.skip("the servers need a database shared with the test (PostgreSQL)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with redis_server() as (redis_url, _redis):
        stack = Stack(tmp_path, redis_url)
        try:
            stack.start_daphne()
            stack.logs.append(ARTIFACTS / "relay.log")
            with relay(stack.env, ARTIFACTS / "relay.log") as relay_proc:
                stack.relay = relay_proc
                yield stack
        finally:
            stack.close()


# --- browser -----------------------------------------------------------------------------


class Watched:
    """A page whose console messages and uncaught errors are recorded."""

    def __init__(self, name: str, page):
        self.name = name
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("console", lambda msg: self.console.append(f"[{msg.type}] {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(f"{exc}\n{exc.stack or ''}"))

    def console_errors(self) -> list[str]:
        return [line for line in self.console if line.startswith("[error]")]

    def save_console(self) -> None:
        lines = self.console + [f"[pageerror] {e}" for e in self.errors]
        (ARTIFACTS / f"console-{self.name}.log").write_text("\n".join(lines) + "\n")

    def screenshot(self, label: str) -> Path:
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


def board_row(page, member_id: int):
    return page.locator(f"#leaderboard-points tbody tr[data-member-id='{member_id}'] td.num")


def overlay_row(page, member_id: int):
    return page.locator(f"#stage .lb-row:not(.leaving)[data-member-id='{member_id}']")


def overlay_frame(page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "#stage .lb-row:not(.leaving)",
        "rows => rows.map(r => [r.dataset.memberId, r.dataset.amount])",
    )


def dashboard_frame(page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "#leaderboard-points tbody tr[data-member-id]",
        "rows => rows.map(r => [r.dataset.memberId, r.querySelector('td.num').dataset.amount])",
    )


class Screens:
    """The staff dashboard and the leaderboard overlay, watched side by side."""

    def __init__(self, dashboard: Watched, overlay: Watched):
        self.dashboard = dashboard
        self.overlay = overlay
        self.pages = (dashboard, overlay)

    def no_page_errors(self, when: str) -> None:
        for watched in self.pages:
            assert not watched.errors, f"{watched.name}: uncaught errors {when}: {watched.errors}"

    def no_console_errors(self) -> None:
        for watched in self.pages:
            assert not watched.console_errors(), f"{watched.name}: {watched.console_errors()}"

    def overlay_connected(self, state: bool, timeout: float) -> None:
        self.overlay.page.wait_for_function(
            "want => !!(window.concordOverlay && window.concordOverlay.connected()) === want",
            arg=state,
            timeout=timeout,
        )

    def overlay_has(self, seq: int) -> None:
        self.overlay.page.wait_for_function(
            "seq => window.concordOverlay.lastSeq() >= seq", arg=seq, timeout=LIVE
        )

    def overlay_ranks_first(self, member_id: int) -> None:
        from playwright.sync_api import expect

        expect(self.overlay.page.locator("#stage .lb-row:not(.leaving)").first).to_have_attribute(
            "data-member-id", str(member_id), timeout=LIVE
        )

    def both_show(self, amounts: dict[int, int], timeout: float = LIVE) -> None:
        from playwright.sync_api import expect

        for member_id, amount in amounts.items():
            expect(overlay_row(self.overlay.page, member_id)).to_have_attribute(
                "data-amount", str(amount), timeout=timeout
            )
            expect(board_row(self.dashboard.page, member_id)).to_have_attribute(
                "data-amount", str(amount), timeout=timeout
            )

    def frames_are(self, expected: dict[str, str]) -> None:
        assert dict(overlay_frame(self.overlay.page)) == expected
        assert dict(dashboard_frame(self.dashboard.page)) == expected

    def feed_has(self, seq: int) -> None:
        from playwright.sync_api import expect

        item = self.dashboard.page.locator(f"#feed li.feed-item[data-seq='{seq}']")
        expect(item).to_have_count(1, timeout=LIVE)

    def top_feed_seq(self) -> int:
        top = self.dashboard.page.locator("#feed li.feed-item").first
        return int(top.get_attribute("data-seq"))

    def screenshots(self, label: str) -> None:
        for watched in self.pages:
            watched.screenshot(label)


def make_members_and_overlay(env: dict[str, str]) -> dict:
    """Ada, Brook and Cyd (100 points each, the welcome bonus) and a leaderboard overlay
    token, made by a child process."""
    return run_django(
        env,
        """
        from accounts.actions import register_member
        from dashboard.actions import create_token
        ids = [
            register_member(platform="web", external_id=f"e2e-{name}", username=name).member.pk
            for name in ("Ada", "Brook", "Cyd")
        ]
        token = create_token("leaderboard:points", label="e2e")
        print(json.dumps({"members": ids, "overlay": token.path}))
        """,
    )


def open_both_pages(screens: Screens, base: str, made: dict, expected: dict) -> None:
    """Open both pages, logged in where it matters, and wait for their sockets."""
    from playwright.sync_api import expect

    ada, brook, cyd = made["members"]
    page = screens.dashboard.page
    page.goto(f"{base}/admin/login/?next=/dashboard/")
    page.fill("#id_username", STAFF[0])
    page.fill("#id_password", STAFF[1])
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/dashboard/")
    expect(page.locator("html")).to_have_attribute("data-live", "connected")

    screens.overlay.page.goto(f"{base}{made['overlay']}")
    screens.overlay_connected(True, 15_000)
    screens.both_show({ada: 100, brook: 100, cyd: 100})
    screens.frames_are(expected)
    screens.no_page_errors("on load")
    screens.no_console_errors()


def an_award_reaches_both(screens: Screens, env: dict, brook: int, expected: dict) -> dict:
    """An award from another process reaches both pages; the overlay ranks Brook first."""
    feed_before = screens.top_feed_seq()
    first = post_award(env, brook, 500, "e2e-1")
    assert first["balance"] == 600
    screens.both_show({brook: 600})
    screens.feed_has(first["seq"])
    assert first["seq"] > feed_before
    screens.overlay_has(first["seq"])
    # The overlay ranks Brook first now.
    screens.overlay_ranks_first(brook)
    expected[str(brook)] = "600"
    screens.frames_are(expected)
    screens.dashboard.page.wait_for_timeout(700)  # let the count-up and flash animations settle
    screens.screenshots("1-live")
    screens.no_page_errors("after the first award")
    screens.no_console_errors()
    return first


def daphne_dies(screens: Screens, stack, cyd: int, first: dict, expected: dict) -> dict:
    """Daphne dies: both pages notice, and keep showing the last frame while an award is
    posted; that award."""
    from playwright.sync_api import expect

    stack.kill_daphne()
    screens.overlay_connected(False, 15_000)
    expect(screens.dashboard.page.locator("html")).to_have_attribute("data-live", "disconnected")
    expect(screens.overlay.page.locator("#stage")).to_have_attribute("data-connected", "0")

    second = post_award(stack.env, cyd, 900, "e2e-2")  # while daphne is down
    assert second["balance"] == 1000
    assert second["seq"] > first["seq"]
    screens.dashboard.page.wait_for_timeout(1_000)  # nothing can arrive: there is no server
    screens.frames_are(expected)  # the last frame, kept
    screens.screenshots("2-down")
    screens.no_page_errors("while daphne was down")
    return second


def daphne_comes_back(screens: Screens, stack, cyd: int, second: dict, expected: dict) -> None:
    """Daphne is back on the same port: both reconnect and catch up."""
    from playwright.sync_api import expect

    stack.start_daphne()
    restarted = time.monotonic()
    screens.overlay_connected(True, RECOVER_OVERLAY)
    overlay_back = time.monotonic() - restarted
    expect(overlay_row(screens.overlay.page, cyd)).to_have_attribute(
        "data-amount", "1000", timeout=LIVE
    )
    screens.overlay_has(second["seq"])
    expect(screens.dashboard.page.locator("html")).to_have_attribute(
        "data-live", "connected", timeout=RECOVER_DASHBOARD
    )
    dashboard_back = time.monotonic() - restarted
    screens.both_show({cyd: 1000})
    screens.feed_has(second["seq"])
    screens.overlay_ranks_first(cyd)
    expected[str(cyd)] = "1000"
    screens.frames_are(expected)
    print(f"recovered after restart: overlay {overlay_back:.1f}s, dashboard {dashboard_back:.1f}s")
    screens.dashboard.page.wait_for_timeout(700)  # let the animations settle
    screens.screenshots("3-recovered")
    screens.no_page_errors("after recovery")


def the_relay_delivers_without_redis(
    screens: Screens, env: dict, ada: int, brook: int, expected: dict
) -> None:
    """An award whose process cannot reach Redis: its post-commit handler (the cache bump)
    fails; the relay reads the log, runs the handler again and broadcasts it."""
    from events.models import RelayPosition

    cut_off = {**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    fourth = post_award(cut_off, brook, 1500, "e2e-4")
    assert fourth["balance"] == 2100
    screens.both_show({brook: 2100})
    screens.feed_has(fourth["seq"])
    screens.overlay_has(fourth["seq"])
    assert RelayPosition.objects.get(name="default").seq >= fourth["seq"]
    expected.update({str(ada): "2100", str(brook): "2100"})
    screens.frames_are(expected)


# --- the test ------------------------------------------------------------------------------


def test_dashboard_and_overlay_follow_awards_and_recover_after_daphne_is_killed(
    stack, browser, django_user_model
):
    django_user_model.objects.create_superuser(STAFF[0], "ops@example.org", STAFF[1])
    made = make_members_and_overlay(stack.env)
    ada, brook, cyd = made["members"]
    expected = {str(m): "100" for m in made["members"]}  # the welcome bonus

    dash_context = browser.new_context(viewport={"width": 1280, "height": 900})
    overlay_context = browser.new_context(viewport={"width": 1280, "height": 720})
    screens = Screens(
        Watched("dashboard", dash_context.new_page()),
        Watched("overlay", overlay_context.new_page()),
    )
    pages = screens.pages
    for watched in pages:
        watched.page.set_default_timeout(15_000)

    try:
        open_both_pages(screens, stack.base, made, expected)
        first = an_award_reaches_both(screens, stack.env, brook, expected)
        second = daphne_dies(screens, stack, cyd, first, expected)
        daphne_comes_back(screens, stack, cyd, second, expected)

        # --- and they are live again ---------------------------------------------------------
        third = post_award(stack.env, ada, 2000, "e2e-3")
        screens.both_show({ada: 2100})
        screens.overlay_ranks_first(ada)
        screens.feed_has(third["seq"])

        the_relay_delivers_without_redis(screens, stack.env, ada, brook, expected)
        screens.dashboard.page.wait_for_timeout(700)
        screens.screenshots("4-relayed")
        screens.no_page_errors("at the end")
        assert stack.daphne.poll() is None, "daphne exited"
        assert stack.relay.poll() is None, "the relay exited"
    except Exception as exc:
        for watched in pages:
            with contextlib.suppress(Exception):
                watched.screenshot("failed")
        consoles = "\n".join(
            f"--- {w.name} console ---\n" + "\n".join(w.console[-60:] + w.errors) for w in pages
        )
        raise AssertionError(f"{exc}\n\n{consoles}\n\n{stack.diagnostics()}") from exc
    finally:
        for watched in pages:
            watched.save_console()
        dash_context.close()
        overlay_context.close()

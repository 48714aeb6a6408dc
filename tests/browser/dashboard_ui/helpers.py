"""What the dashboard UI tests share: the page and overlay probes, the layout checks, and
screenshots to `test-artifacts/dashboard-ui/` in the checkout."""

from __future__ import annotations

import pytest

from tests.servers import ROOT

# Every test here: in Chromium, against daphne on PostgreSQL and a private Redis.
MARKS = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

ARTIFACTS = ROOT / "test-artifacts" / "dashboard-ui"

STAFF = ("ui-ops", "correct-horse-ui-42")

LIVE = 10_000  # ms: an award shows on a connected page within this

# 90 characters, one unbroken run of 52 among them (gamer tags are like that).
LONG_NAME = (
    "xX_TheUltimateLegendaryChampionOfAllStreamsEverywhere and the Late Night Crew of Friends"
)
assert len(LONG_NAME) >= 80


class Site:
    def __init__(self, base: str, env: dict[str, str], data: dict):
        self.base = base
        self.env = env
        self.data = data
        self.members: dict[str, int] = data["members"]


class Watched:
    """A page whose uncaught errors are recorded (none are expected)."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.console: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.console.append(f"[{msg.type}] {msg.text}"))
        page.set_default_timeout(15_000)

    def assert_no_errors(self) -> None:
        assert not self.errors, f"uncaught errors: {self.errors}"


def screenshot(page, name: str, **kwargs) -> None:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", **kwargs)
    print(f"screenshot: {path}")


# Records, on an overlay page, every websocket's hello and close code and every status
# change the overlay reports (window.__ws), without changing what the page does.
WS_PROBE = """
(() => {
  const Native = window.WebSocket;
  const log = window.__ws = { opened: 0, hellos: [], closes: [], statuses: [] };
  function Probe(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("open", () => { log.opened += 1; });
    ws.addEventListener("message", (ev) => {
      try {
        const msg = JSON.parse(ev.data);
        if (msg && msg.type === "hello") log.hellos.push(msg.connection);
      } catch (e) {}
    });
    ws.addEventListener("close", (ev) => { log.closes.push(ev.code); });
    return ws;
  }
  Probe.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Probe[k] = Native[k];
  window.WebSocket = Probe;
})();
"""


def overlay_page(browser, url: str, viewport=None) -> tuple:
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 720})
    context.add_init_script(WS_PROBE)
    watched = Watched(context.new_page())
    watched.page.goto(url)
    wait_connected(watched.page, True)
    return context, watched


def wait_connected(page, state: bool, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "want => !!(window.concordOverlay && window.concordOverlay.connected()) === want",
        arg=state,
        timeout=timeout,
    )


def expect_live(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("html")).to_have_attribute("data-live", "connected", timeout=LIVE)


# Everything in a card, outside the tables (which scroll sideways inside their card), lies
# within the card: nothing is cut off at its edge.
CLIPPED = """() => {
  const out = [];
  for (const card of document.querySelectorAll("main .card")) {
    const c = card.getBoundingClientRect(), style = getComputedStyle(card);
    const right = c.right - parseFloat(style.borderRightWidth) + 0.5;
    for (const el of card.querySelectorAll("*")) {
      if (el.closest("table, .table-wrap") || !el.getClientRects().length) continue;
      const r = el.getBoundingClientRect(), overflow = getComputedStyle(el).overflowX;
      // Its box sticks out, or its text runs out of it (unless it clips on purpose).
      const spills = overflow === "visible" && el.clientWidth > 0
        && el.scrollWidth > el.clientWidth + 1;
      if ((r.width && r.right > right) || spills) out.push({tag: el.tagName,
        cls: el.className, text: (el.textContent || el.value || "").trim().slice(0, 40),
        right: r.right, cardRight: right, scrollWidth: el.scrollWidth,
        clientWidth: el.clientWidth});
    }
  }
  return out;
}"""


def assert_nothing_clipped(page, what: str) -> None:
    clipped = page.evaluate(CLIPPED)
    assert clipped == [], f"{what}: cut off at the edge of its card: {clipped}"


# A leaderboard's amounts are on screen without scrolling anything sideways.
BOARD_AMOUNTS = """() => [
  ...document.querySelectorAll("table.leaderboard tbody tr[data-member-id]")
].map(tr => { const a = tr.querySelector("td.num").getBoundingClientRect();
    const n = tr.querySelector("td:nth-child(2)").getBoundingClientRect();
    return {id: tr.dataset.memberId, left: a.left, right: a.right, nameRight: n.right,
            width: window.innerWidth}; })"""


def assert_amounts_on_screen(page, what: str) -> None:
    rows = page.evaluate(BOARD_AMOUNTS)
    assert rows, f"{what}: no leaderboard rows"
    for row in rows:
        assert row["left"] >= 0, f"{what}: amount off screen {rows}"
        assert row["right"] <= row["width"], f"{what}: amount off screen {rows}"
        assert row["nameRight"] <= row["left"] + 0.5, f"{what}: name over the amount {rows}"


def forget_cached(env: dict[str, str]) -> None:
    """Empty what the servers cached (not the channel layer's keys). Their prefix is this
    process's CACHE_KEY_PREFIX, which the children inherit (tests.servers.child_env)."""
    import os

    import redis

    prefix = env.get("CACHE_KEY_PREFIX") or os.environ.get("CACHE_KEY_PREFIX") or "concord"
    client = redis.Redis.from_url(env["REDIS_URL"])
    for key in client.scan_iter(f"{prefix}:1:*"):
        client.delete(key)
    client.close()

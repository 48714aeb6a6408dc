"""What a person sees, in headless Chromium against daphne on PostgreSQL and a private
Redis: the staff dashboard on a phone and in both themes, the leaderboard and ticker
overlays as OBS shows them, and the overlays page (create a link, watch its connection
in the fleet panel, reload it, revoke it).

One daphne and one private redis-server serve every test in this module; each test's data
is made by a child process (overlay tokens are signed with the servers' SECRET_KEY).

Screenshots go to `test-artifacts/dashboard-ui/` in the checkout.
"""

from __future__ import annotations

import itertools
import re
import shutil
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

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

ARTIFACTS = ROOT / "test-artifacts" / "dashboard-ui"
STAFF = ("ui-ops", "correct-horse-ui-42")
PHONE = {"width": 375, "height": 812}
LIVE = 10_000  # ms: an award shows on a connected page within this
# ms: the hub writes the fleet to the cache every 5 s and the panel polls every 3 s.
FLEET = 15_000
# 90 characters, one unbroken run of 52 among them (gamer tags are like that).
LONG_NAME = (
    "xX_TheUltimateLegendaryChampionOfAllStreamsEverywhere and the Late Night Crew of Friends"
)
assert len(LONG_NAME) >= 80


# --- processes --------------------------------------------------------------------------


def post_award(env: dict[str, str], member_id: int, amount: int, reason: str) -> dict:
    """Award points in another process (the relay broadcasts it); the event's seq."""
    return run_django(
        env,
        f"""
        from accounts.models import Member
        from events.models import Event
        from ledger.actions import award
        member = Member.objects.get(pk={member_id})
        transfer = award(member, {amount}, currency="points", reason={reason!r},
                         idempotency_key={uuid.uuid4().hex!r})
        print(json.dumps({{"seq": Event.objects.get(subject=f"transfer:{{transfer.id}}").seq}}))
        """,
    )


class Site:
    def __init__(self, base: str, env: dict[str, str], data: dict):
        self.base = base
        self.env = env
        self.data = data
        self.members: dict[str, int] = data["members"]


@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory):
    """One private redis-server and one daphne for the module; yields (base URL, env)."""
    tmp_path = tmp_path_factory.mktemp("dashboard-ui")
    if not database_url_for_tests(tmp_path).startswith("postgres"):
        pytest.skip("the servers need a database shared with the test (PostgreSQL)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with (ARTIFACTS / "daphne.log").open("wb") as log, redis_server() as (redis_url, _redis):
        env = {
            "DATABASE_URL": database_url_for_tests(tmp_path),
            "REDIS_URL": redis_url,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",
        }
        port = free_port()
        daphne = spawn_daphne(env, port, stderr=log)
        try:
            with relay(env, ARTIFACTS / "relay.log"):
                yield f"http://127.0.0.1:{port}", env
        finally:
            stop(daphne)


@pytest.fixture
def site(servers):
    """This test's data (the database is emptied after each test), made by another process."""
    import redis

    base, env = servers
    # What the servers cached about the last test's data (not the channel layer's keys).
    client = redis.Redis.from_url(env["REDIS_URL"])
    for key in client.scan_iter("concord:1:*"):
        client.delete(key)
    client.close()
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
                platform="telegram", external_id=f"ui-{{key}}", username=name
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


def lb_row(page, member_id: int):
    return page.locator(f"#stage .lb-row:not(.leaving)[data-member-id='{member_id}']")


# --- 1. phone --------------------------------------------------------------------------------

NO_OVERFLOW = """() => ({
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: document.documentElement.clientWidth,
  innerWidth: window.innerWidth,
  bodyScrollWidth: document.body.scrollWidth,
})"""

# Each visible card: its box; and the grid's computed columns.
CARDS = """() => {
  const cards = [...document.querySelectorAll("main .card")].filter(c => c.offsetParent);
  const grid = document.querySelector("main .grid");
  return {
    columns: grid ? getComputedStyle(grid).gridTemplateColumns : null,
    cards: cards.map(c => { const r = c.getBoundingClientRect();
      return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width}; }),
  };
}"""


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


def assert_fits_phone(page, what: str) -> None:
    sizes = page.evaluate(NO_OVERFLOW)
    assert sizes["innerWidth"] == PHONE["width"], f"{what}: the phone zoomed out: {sizes}"
    assert sizes["scrollWidth"] <= sizes["innerWidth"], f"{what}: page overflows: {sizes}"
    assert sizes["scrollWidth"] <= sizes["clientWidth"], f"{what}: page overflows: {sizes}"
    # Scrolling sideways moves nothing.
    page.evaluate("window.scrollTo(200, 0)")
    assert page.evaluate("window.scrollX") == 0, f"{what}: the page scrolls sideways"


def assert_one_column(page, what: str, expect_cards: int) -> None:
    layout = page.evaluate(CARDS)
    cards = layout["cards"]
    assert len(cards) >= expect_cards, f"{what}: {layout}"
    if layout["columns"] is not None:
        assert len(layout["columns"].split()) == 1, f"{what}: grid columns {layout['columns']}"
    first = cards[0]
    for card in cards:
        assert card["left"] >= 0, f"{what}: {card}"
        assert card["right"] <= PHONE["width"], f"{what}: {card}"
        assert abs(card["left"] - first["left"]) < 1, f"{what}: cards not stacked: {cards}"
        assert abs(card["width"] - first["width"]) < 1, f"{what}: cards not stacked: {cards}"
    for above, below in itertools.pairwise(cards):
        assert below["top"] >= above["bottom"], f"{what}: cards overlap or sit side by side"


def test_phone_dashboard_pages_fit_and_stack(site, staff_state, browser):
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=staff_state,
        color_scheme="light",
    )
    try:
        watched = Watched(context.new_page())
        page = watched.page
        long_id = site.members["long"]

        page.goto(f"{site.base}/dashboard/")
        expect_live(page)
        assert_fits_phone(page, "home")
        # Now, Activity, the leaderboard and the search card.
        assert_one_column(page, "home", 4)
        assert_nothing_clipped(page, "home")
        # The long name is in the leaderboard; every amount still shows, next to its name.
        assert page.locator(f"#leaderboard-points tr[data-member-id='{long_id}']").count() == 1
        assert_amounts_on_screen(page, "home")
        screenshot(page, "phone-home-leaderboard", full_page=True)

        page.goto(f"{site.base}/dashboard/members/")
        assert_fits_phone(page, "members")
        assert_one_column(page, "members", 1)
        assert_nothing_clipped(page, "members")
        assert page.get_by_role("link", name=LONG_NAME).count() == 1

        page.goto(f"{site.base}/dashboard/members/{long_id}/")
        assert_fits_phone(page, "member")
        assert_one_column(page, "member", 3)
        assert_nothing_clipped(page, "member")
        screenshot(page, "phone-member-long-name", full_page=True)

        # The overlays page, with the message a new link leaves (its long URL).
        page.goto(f"{site.base}/dashboard/overlays/")
        page.locator("input[name=label]").fill("phone")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("status")).to_contain_text("Created: http://")
        assert_fits_phone(page, "overlays")
        assert_one_column(page, "overlays", 3)
        assert_nothing_clipped(page, "overlays")
        screenshot(page, "phone-overlays", full_page=True)
        watched.assert_no_errors()
    finally:
        context.close()


# --- 2. themes ---------------------------------------------------------------------------------


def test_theme_toggle_switches_colours_and_persists(site, staff_state, browser):
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=staff_state,
        color_scheme="light",
    )
    try:
        watched = Watched(context.new_page())
        page = watched.page
        html = page.locator("html")
        toggle = page.locator("[data-theme-toggle]")

        def background() -> str:
            return page.evaluate("getComputedStyle(document.body).backgroundColor")

        page.goto(f"{site.base}/dashboard/")
        expect_live(page)
        assert page.evaluate("document.documentElement.dataset.theme") is None  # follows the OS
        light = background()
        assert light == "rgb(244, 245, 247)"
        expect(toggle).to_have_attribute("aria-label", "Switch to dark theme")
        screenshot(page, "phone-home-light", full_page=True)

        toggle.click()
        expect(html).to_have_attribute("data-theme", "dark")
        dark = background()
        assert dark == "rgb(15, 18, 22)"
        assert dark != light
        text = page.evaluate("getComputedStyle(document.body).color")
        assert text == "rgb(230, 233, 238)"  # light text on the dark background
        expect(toggle).to_have_attribute("aria-label", "Switch to light theme")
        screenshot(page, "phone-home-dark", full_page=True)

        page.reload()
        expect(html).to_have_attribute("data-theme", "dark")
        assert background() == dark
        page.goto(f"{site.base}/dashboard/members/")  # and on another page
        expect(html).to_have_attribute("data-theme", "dark")
        assert background() == dark
        assert_fits_phone(page, "members, dark")

        toggle.click()
        expect(html).to_have_attribute("data-theme", "light")
        assert background() == light
        page.reload()
        expect(html).to_have_attribute("data-theme", "light")
        assert background() == light
        watched.assert_no_errors()
    finally:
        context.close()


def test_dark_os_preference_is_followed_until_overridden(site, staff_state, browser):
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport=PHONE, storage_state=staff_state, color_scheme="dark", is_mobile=True
    )
    try:
        page = Watched(context.new_page()).page
        page.goto(f"{site.base}/dashboard/")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == (
            "rgb(15, 18, 22)"
        )
        page.locator("[data-theme-toggle]").click()  # from dark: to light
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        page.reload()
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == (
            "rgb(244, 245, 247)"
        )
    finally:
        context.close()


# --- 3. leaderboard overlay -------------------------------------------------------------------

STAGE_BOX = """() => {
  const r = document.getElementById("stage").getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height,
          innerWidth: window.innerWidth, innerHeight: window.innerHeight};
}"""

NAME_FIT = """id => {
  const row = document.querySelector(`#stage .lb-row:not(.leaving)[data-member-id="${id}"]`);
  const name = row.querySelector(".lb-name"), amount = row.querySelector(".lb-amount");
  const style = getComputedStyle(name);
  const box = el => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  return {
    name: {scrollWidth: name.scrollWidth, clientWidth: name.clientWidth,
           fontSize: parseFloat(style.fontSize), textOverflow: style.textOverflow,
           overflow: style.overflowX, whiteSpace: style.whiteSpace, title: name.title,
           text: name.textContent, box: box(name)},
    amount: {scrollWidth: amount.scrollWidth, clientWidth: amount.clientWidth,
             text: amount.textContent, box: box(amount),
             visibility: getComputedStyle(amount).visibility},
    row: {scrollWidth: row.scrollWidth, clientWidth: row.clientWidth, box: box(row)},
    panel: box(row.closest(".panel")),
    viewport: {width: window.innerWidth, height: window.innerHeight},
  };
}"""


def test_leaderboard_overlay_for_obs(site, browser):
    from playwright.sync_api import expect

    m = site.members
    context, watched = overlay_page(browser, f"{site.base}{site.data['board']}")
    page = watched.page
    try:
        for key, amount in (("long", 1234600), ("ada", 1000), ("brook", 500), ("cyd", 100)):
            expect(lb_row(page, m[key])).to_have_attribute("data-amount", str(amount))
        order = page.eval_on_selector_all(
            "#stage .lb-row:not(.leaving)", "rows => rows.map(r => +r.dataset.memberId)"
        )
        assert order == [m["long"], m["ada"], m["brook"], m["cyd"]]

        # Transparent for OBS: neither the page nor the body paints anything.
        for element in ("document.documentElement", "document.body"):
            colour = page.evaluate(f"getComputedStyle({element}).backgroundColor")
            assert colour in ("rgba(0, 0, 0, 0)", "transparent"), f"{element}: {colour}"
        assert page.evaluate("getComputedStyle(document.body).backgroundImage") == "none"

        # No cookies, no storage: nothing an OBS source would carry between streams.
        assert context.cookies() == []
        assert page.evaluate("document.cookie") == ""
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0

        # The 1920x1080 stage scales to fit, keeping its aspect.
        for width, height in ((1280, 720), (1920, 1080), (1000, 800), (800, 1000)):
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_function(
                "w => window.innerWidth === w && Math.abs(document.getElementById('stage')"
                ".getBoundingClientRect().width - Math.min(w, innerHeight * 16 / 9)) < 1",
                arg=width,
            )
            box = page.evaluate(STAGE_BOX)
            scale = min(width / 1920, height / 1080)
            assert abs(box["x"]) < 0.5, box
            assert abs(box["y"]) < 0.5, box
            assert box["x"] + box["width"] <= width + 0.5, box
            assert box["y"] + box["height"] <= height + 0.5, box
            assert abs(box["width"] - 1920 * scale) < 1, box
            assert abs(box["height"] - 1080 * scale) < 1, box
            assert abs(box["width"] / box["height"] - 16 / 9) < 0.01, box
        page.set_viewport_size({"width": 1280, "height": 720})

        # The very long name fits its row: shrunk, then cut with an ellipsis; the amount
        # stays whole and visible.
        fit = page.evaluate(NAME_FIT, m["long"])
        name, amount, row = fit["name"], fit["amount"], fit["row"]
        assert name["text"] == LONG_NAME
        assert name["title"] == LONG_NAME
        assert name["fontSize"] < 44, f"the name was not shrunk: {fit}"
        assert name["fontSize"] >= 44 * 0.6 - 0.5, fit
        if name["scrollWidth"] > name["clientWidth"]:
            assert (name["textOverflow"], name["overflow"], name["whiteSpace"]) == (
                "ellipsis",
                "hidden",
                "nowrap",
            ), f"the name overflows without an ellipsis: {fit}"
        assert name["box"]["right"] <= amount["box"]["left"] + 0.5, fit
        assert row["scrollWidth"] <= row["clientWidth"], f"the row overflows: {fit}"
        assert amount["text"] == "1,234,600"
        assert amount["scrollWidth"] <= amount["clientWidth"], fit
        assert amount["visibility"] == "visible"
        assert row["box"]["left"] <= amount["box"]["left"], fit
        assert amount["box"]["right"] <= row["box"]["right"] + 0.5, fit
        assert amount["box"]["right"] <= fit["viewport"]["width"], fit
        assert row["box"]["right"] <= fit["panel"]["right"] + 0.5, fit
        # Short names keep their full size.
        assert page.evaluate(NAME_FIT, m["ada"])["name"]["fontSize"] == 44
        screenshot(page, "overlay-leaderboard-long-name")

        # --- an award from another process: only that row changes -------------------------
        page.wait_for_function("() => !document.querySelector('#stage .lb-row.enter')")
        page.evaluate(
            """() => {
              document.querySelectorAll("#stage .lb-row").forEach(li => {
                li.__probe = li.dataset.memberId;
              });
              window.__mutations = [];
              new MutationObserver(records => records.forEach(r => {
                r.addedNodes.forEach(n => window.__mutations.push(["added", n.className]));
                r.removedNodes.forEach(n => window.__mutations.push(["removed", n.className]));
              })).observe(document.querySelector("#stage .lb-rows"), {childList: true});
            }"""
        )
        award = post_award(site.env, m["brook"], 100, "ui board")
        # The moment the new amount lands: which rows are the old nodes, which animate.
        seen = page.wait_for_function(
            """id => {
              const rows = [...document.querySelectorAll("#stage .lb-row")];
              const changed = rows.find(li => li.dataset.memberId === String(id));
              if (!changed || changed.dataset.amount !== "600") return null;
              const rowOf = el => el.closest ? el.closest(".lb-row") : null;
              return {
                rows: rows.map(li => ({id: li.dataset.memberId, probe: li.__probe || null,
                  amount: li.dataset.amount, classes: li.className,
                  amountClasses: li.querySelector(".lb-amount").className,
                  transform: li.style.transform})),
                animating: document.getAnimations().filter(a => a.playState === "running")
                  .map(a => { const t = a.effect && a.effect.target, row = t && rowOf(t);
                    return {name: a.animationName || a.transitionProperty || "?",
                            row: row ? row.dataset.memberId : null,
                            target: t ? t.className : null}; }),
              };
            }""",
            arg=m["brook"],
            timeout=LIVE,
        ).json_value()
        rows = {r["id"]: r for r in seen["rows"]}
        assert set(rows) == {str(v) for v in m.values()}, seen
        for row_state in seen["rows"]:
            assert row_state["probe"] == row_state["id"], f"row re-created: {seen}"
            if row_state["id"] != str(m["brook"]):
                assert "flash" not in row_state["amountClasses"], seen
                assert row_state["transform"] == "", seen
                assert "enter" not in row_state["classes"], seen
        assert "flash-up" in rows[str(m["brook"])]["amountClasses"], seen
        assert seen["animating"], f"nothing animates: {seen}"
        assert all(a["row"] == str(m["brook"]) for a in seen["animating"]), seen
        expect(lb_row(page, m["brook"]).locator(".lb-amount")).to_have_text("600")
        assert page.evaluate("window.__mutations") == [], "rows were added or removed"
        assert page.evaluate("seq => window.concordOverlay.lastSeq() >= seq", award["seq"]), (
            "the award's event did not reach the overlay"
        )
        assert context.cookies() == []
        watched.assert_no_errors()
    finally:
        context.close()


# --- 4. ticker overlay -------------------------------------------------------------------------


def test_ticker_overlay_shows_recent_events_and_new_awards(site, browser):
    from playwright.sync_api import expect

    context, watched = overlay_page(browser, f"{site.base}{site.data['ticker']}")
    page = watched.page
    try:
        items = page.locator("#stage .ticker .ticker-item")
        expect(items.first).to_be_attached()
        texts = items.all_text_contents()
        for name in ("Ada", "Brook", "Cyd", LONG_NAME):
            assert f"{name} joined" in texts, texts
        assert "Ada +900 points (setup)" in texts, texts
        seqs = [int(s) for s in items.evaluate_all("els => els.map(e => e.dataset.seq)")]
        assert seqs == sorted(seqs, reverse=True), "newest first"
        assert len(seqs) == len(set(seqs))
        # The bar sits at the bottom of the 1280x720 window, across its width.
        bar = page.locator("#stage .ticker").bounding_box()
        assert abs(bar["y"] + bar["height"] - 720) < 1, bar
        assert abs(bar["width"] - 1280) < 1, bar
        screenshot(page, "overlay-ticker")

        award = post_award(site.env, site.members["cyd"], 250, "ticker test")
        item = page.locator(f"#stage .ticker .ticker-item[data-seq='{award['seq']}']")
        expect(item).to_have_text("Cyd +250 points (ticker test)", timeout=LIVE)
        assert items.count() == len(seqs) + 1 or items.count() == 20
        after = [int(s) for s in items.evaluate_all("els => els.map(e => e.dataset.seq)")]
        assert after.count(award["seq"]) == 1
        old = [seq for seq in after if seq != award["seq"]]
        if page.locator("#stage .ticker-clone").count() == 0:
            # Everything fits: newest first, the old items after it in the same order.
            assert after[0] == award["seq"], "newest first"
            assert old == seqs[: len(old)]
        else:
            # It scrolls: the old items keep their order (nothing on screen jumps) and the
            # new one goes in where the bar comes in next (test_ticker_brings_...).
            kept = [seq for seq in seqs if seq in old]
            assert old == kept, "old items keep their order"
            assert len(kept) >= len(seqs) - 1  # at most the oldest dropped (20 items kept)
        watched.assert_no_errors()
        assert context.cookies() == []
    finally:
        context.close()


# Where a ticker item is: on screen now, or how many seconds until it (or its loop copy)
# scrolls into the bar. The track moves left at 110 stage px per second.
TICKER_ETA = """seq => {
  const bar = document.querySelector("#stage .ticker").getBoundingClientRect();
  const originals = [...document.querySelectorAll("#stage .ticker-item")];
  const index = originals.findIndex(e => e.dataset.seq === String(seq));
  const copies = [originals[index], document.querySelectorAll("#stage .ticker-clone")[index]];
  const speed = 110 * window.ConcordOverlay.stageScale();
  let eta = Infinity;
  for (const el of copies) {
    if (!el) continue;
    const r = el.getBoundingClientRect();
    if (r.right > bar.left && r.left < bar.right) return 0;
    if (r.left >= bar.right) eta = Math.min(eta, (r.left - bar.right) / speed);
  }
  return eta;
}"""


def test_ticker_brings_a_new_award_into_view_soon(site, browser):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    context, watched = overlay_page(browser, f"{site.base}{site.data['ticker']}")
    page = watched.page
    try:
        expect(page.locator("#stage .ticker-clone").first).to_be_attached()  # it scrolls
        award = post_award(site.env, site.members["cyd"], 250, "ticker test")
        expect(page.locator(f"#stage .ticker-item[data-seq='{award['seq']}']")).to_be_attached(
            timeout=LIVE
        )
        try:
            page.wait_for_function(
                f"seq => ({TICKER_ETA})(seq) === 0", arg=award["seq"], timeout=LIVE
            )
        except PlaywrightTimeout:
            eta = page.evaluate(TICKER_ETA, award["seq"])
            raise AssertionError(
                f"the new award is not on screen {LIVE / 1000:.0f}s after it arrived;"
                f" it scrolls in after another {eta:.0f}s"
            ) from None
    finally:
        context.close()


# --- 5. overlays page: create, fleet, reload, revoke --------------------------------------------


def test_overlays_page_creates_watches_reloads_and_revokes(site, staff_state, browser):
    from playwright.sync_api import expect

    label = f"ui fleet {uuid.uuid4().hex[:6]}"
    staff_context = browser.new_context(
        viewport={"width": 1280, "height": 900}, storage_state=staff_state
    )
    overlay_context = None
    try:
        staff = Watched(staff_context.new_page())
        dash = staff.page
        # On a desktop too, the long name leaves its amount on screen.
        dash.goto(f"{site.base}/dashboard/")
        expect_live(dash)
        assert_amounts_on_screen(dash, "desktop home")
        assert_nothing_clipped(dash, "desktop home")
        screenshot(dash, "desktop-home", full_page=True)

        dash.goto(f"{site.base}/dashboard/overlays/")
        assert_nothing_clipped(dash, "overlays page")
        form = dash.locator("form[action$='/overlays/new']")
        form.locator("select[name=scope]").select_option("leaderboard:points")
        form.locator("input[name=label]").fill(label)
        form.get_by_role("button", name="Create").click()
        dash.wait_for_url(f"{site.base}/dashboard/overlays/")
        expect(dash.get_by_role("status")).to_contain_text(
            re.compile(r"Created: http://127\.0\.0\.1:\d+/overlays/")
        )
        token_row = dash.locator("tr[data-token-id]", has_text=label)
        expect(token_row).to_have_count(1)
        expect(token_row.locator("td").nth(1)).to_have_text("leaderboard:points")
        href = token_row.get_by_role("link", name="open").get_attribute("href")
        assert href.startswith("/overlays/"), href
        assert href.endswith("/leaderboard/"), href

        # --- the overlay opens elsewhere; the fleet panel lists its connection ------------
        overlay_context, watched = overlay_page(browser, f"{site.base}{href}")
        overlay = watched.page
        first_id = overlay.evaluate("window.__ws.hellos[0]")
        assert first_id
        fleet_row = dash.locator(f"#fleet-panel tr[data-connection='{first_id}']")
        expect(fleet_row).to_be_visible(timeout=FLEET)
        expect(fleet_row).to_contain_text(label)
        expect(fleet_row).to_contain_text("leaderboard:points")
        screenshot(dash, "overlays-page-fleet", full_page=True)

        # --- Reload: the overlay page reloads (a fresh window, a new connection) -----------
        overlay.evaluate("window.__marker = 'before reload'")
        with overlay.expect_event("load", timeout=LIVE):
            fleet_row.get_by_role("button", name="Reload").click()
        expect(dash.get_by_role("status")).to_contain_text(f"Asked overlay {first_id} to reload")
        wait_connected(overlay, True)
        assert overlay.evaluate("window.__marker") is None, "the overlay did not reload"
        second_id = overlay.evaluate("window.__ws.hellos[0]")
        assert second_id
        assert second_id != first_id
        expect(dash.locator(f"#fleet-panel tr[data-connection='{second_id}']")).to_be_visible(
            timeout=FLEET
        )
        expect(dash.locator(f"#fleet-panel tr[data-connection='{first_id}']")).to_have_count(0)

        # --- Revoke: the overlay is closed, and stays closed ----------------------------------
        overlay.evaluate(
            """() => {
              const stream = window.concordOverlay.stream, inner = stream.handlers.onStatus;
              window.__ws.closesBefore = window.__ws.closes.length;
              stream.handlers.onStatus = c => { window.__ws.statuses.push(c); inner(c); };
            }"""
        )
        token_id = token_row.get_attribute("data-token-id")
        token_row.get_by_role("button", name="Revoke").click()
        expect(dash.get_by_role("status")).to_contain_text("Revoked")
        revoked_row = dash.locator(f"tr[data-token-id='{token_id}']")
        expect(revoked_row.locator(".badge.bad")).to_contain_text("revoked")
        expect(revoked_row.get_by_role("button", name="Revoke")).to_have_count(0)

        wait_connected(overlay, False, timeout=LIVE)
        # It keeps retrying; the server closes each attempt with 4403 (revoked). On a busy
        # machine an attempt can end in 1006 instead: daphne's websocket library waits 1 s
        # for the browser's answer to its close frame, then aborts the TCP connection, and
        # a reset can drop the unread close frame. Never anything else, never a hello.
        overlay.wait_for_function(
            "() => window.__ws.closes.slice(window.__ws.closesBefore)"
            ".filter(code => code === 4403).length >= 4",
            timeout=30_000,
        )
        probe = overlay.evaluate("window.__ws")
        after_revoke = probe["closes"][probe["closesBefore"] :]
        assert after_revoke[0] == 4403, probe
        assert set(after_revoke) <= {4403, 1006}, probe
        assert probe["hellos"] == [second_id], f"an attempt after the revoke was let in: {probe}"
        assert probe["statuses"][0] is False, probe
        assert True not in probe["statuses"], f"the overlay claimed to be connected: {probe}"
        assert overlay.evaluate("window.concordOverlay.connected()") is False
        # The disconnected indicator shows; the last frame stays on screen.
        expect(overlay.locator("#stage")).to_have_attribute("data-connected", "0")
        overlay.wait_for_function(
            "() => parseFloat(getComputedStyle(document.querySelector('#stage .conn')).opacity)"
            " > 0.4"
        )
        assert overlay.locator("#stage .conn").is_visible()
        expect(overlay.locator("#stage .lb-row:not(.leaving)")).to_have_count(4)
        # The revoked link is gone for good.
        assert overlay_context.request.get(f"{site.base}{href}").status == 410
        expect(dash.locator(f"#fleet-panel tr[data-connection='{second_id}']")).to_have_count(
            0, timeout=FLEET
        )
        watched.assert_no_errors()
        staff.assert_no_errors()
    finally:
        if overlay_context is not None:
            overlay_context.close()
        staff_context.close()


# --- 6. tournament board and overlay --------------------------------------------------------


def test_tournament_board_and_overlay_update_as_players_check_in(site, staff_state, browser):
    from playwright.sync_api import expect

    m = site.members
    cup = run_django(
        site.env,
        f"""
        from datetime import timedelta
        from django.utils import timezone
        from accounts.models import Member
        from dashboard.actions import create_token
        from tournaments.actions import (
            create_tournament, open_check_in, open_registration, register)
        now = timezone.now()
        t = create_tournament(
            name="UI Cup", game="chess", currency="points", entry_fee=0, capacity=2,
            registration_opens_at=now - timedelta(hours=1),
            registration_closes_at=now + timedelta(hours=1),
            check_in_opens_at=now + timedelta(hours=1),
            check_in_closes_at=now + timedelta(hours=2))
        open_registration(t)
        regs = [register(t, Member.objects.get(pk=pk)).pk
                for pk in ({m["ada"]}, {m["brook"]}, {m["cyd"]})]
        open_check_in(t)
        token = create_token(f"tournament:{{t.pk}}", label="ui cup")
        print(json.dumps({{"id": t.pk, "registrations": regs, "overlay": token.path}}))
        """,
    )

    def check_in(registration_id: int) -> None:
        run_django(
            site.env,
            f"""
            from tournaments.actions import check_in
            from tournaments.models import Registration
            check_in(Registration.objects.get(pk={registration_id}))
            print(json.dumps(True))
            """,
        )

    staff_context = browser.new_context(
        viewport={"width": 1280, "height": 900}, storage_state=staff_state
    )
    overlay_context, watched_overlay = overlay_page(browser, f"{site.base}{cup['overlay']}")
    try:
        staff = Watched(staff_context.new_page())
        board = staff.page
        board.goto(f"{site.base}/dashboard/tournaments/{cup['id']}/")
        expect_live(board)
        counts = board.locator("#tournament-board [data-checked-in]")
        expect(counts).to_have_text("0/2")
        expect(board.locator("#tournament-board [data-seated]")).to_have_text("2/2")
        expect(board.locator("#tournament-board ol.waitlist li")).to_have_text(["Cyd"])
        stage = watched_overlay.page.locator("#stage")
        expect(stage.locator(".tb-title")).to_have_text("UI CUP")
        expect(stage.locator("[data-count=checked_in] .tb-count-value")).to_have_text("0/2")

        check_in(cup["registrations"][0])
        # Both screens update by themselves: the count, and Ada's row marked.
        expect(counts).to_have_text("1/2", timeout=LIVE)
        ada_row = board.locator("#tournament-board table.players tr", has_text="Ada")
        expect(ada_row.locator(".badge.ok")).to_have_text("checked in")
        expect(stage.locator("[data-count=checked_in] .tb-count-value")).to_have_text(
            "1/2", timeout=LIVE
        )
        expect(stage.locator(".tb-player.in")).to_have_count(1)
        expect(stage.locator(".tb-player.in")).to_have_attribute("data-name", "Ada")

        check_in(cup["registrations"][1])
        expect(counts).to_have_text("2/2", timeout=LIVE)
        expect(stage.locator(".tb-player.in")).to_have_count(2, timeout=LIVE)
        screenshot(board, "tournament-board", full_page=True)
        screenshot(watched_overlay.page, "overlay-tournament")
        staff.assert_no_errors()
        watched_overlay.assert_no_errors()
        assert overlay_context.cookies() == []
    finally:
        staff_context.close()
        overlay_context.close()


def test_story_map_counts_grow_live_as_members_choose(site, staff_state, browser):
    """The story map in Chromium: an SVG of the chapter graph whose choice counts and
    totals change by themselves as decisions are made elsewhere; the member page shows
    the path taken."""
    from playwright.sync_api import expect

    m = site.members
    story = run_django(
        site.env,
        f"""
        from accounts.models import Member
        from narrative.actions import start_story
        from narrative.demo import load_demo_story
        from narrative.models import Choice
        s = load_demo_story()
        for pk in ({m["ada"]}, {m["brook"]}):
            start_story(Member.objects.get(pk=pk), s)
        row_out = Choice.objects.get(chapter__story=s, text="Row out to the wreck").pk
        print(json.dumps({{"id": s.pk, "row_out": row_out}}))
        """,
    )

    def choose(member_id: int) -> None:
        run_django(
            site.env,
            f"""
            from accounts.models import Member
            from narrative.actions import make_choice
            from narrative.models import Choice
            make_choice(Member.objects.get(pk={member_id}),
                        Choice.objects.get(pk={story["row_out"]}))
            print(json.dumps(True))
            """,
        )

    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, storage_state=staff_state
    )
    try:
        staff = Watched(context.new_page())
        page = staff.page
        page.goto(f"{site.base}/dashboard/stories/{story['id']}/")
        expect_live(page)
        edge = page.locator(f"svg.story-map g.edge[data-choice='{story['row_out']}']")
        expect(edge).to_have_attribute("data-taken", "0")
        expect(page.locator("svg.story-map g.node.chapter")).to_have_count(6)
        expect(page.locator("[data-decisions]")).to_have_text("0")

        choose(m["ada"])
        expect(edge).to_have_attribute("data-taken", "1", timeout=LIVE)
        expect(edge.locator("text")).to_have_text("1")
        expect(page.locator("[data-decisions]")).to_have_text("1")
        choose(m["brook"])
        expect(edge).to_have_attribute("data-taken", "2", timeout=LIVE)
        expect(page.locator("svg.story-map g.node.chapter", has_text="2 here")).to_have_count(1)
        box = page.locator("svg.story-map").bounding_box()
        assert box["width"] > 600
        assert box["height"] > 200
        screenshot(page, "story-map", full_page=True)

        page.goto(f"{site.base}/dashboard/members/{m['ada']}/")
        section = page.locator(".member-story")
        expect(section.locator("h3")).to_contain_text("chapter 2: The wreck")
        expect(section.locator("ol.path li")).to_have_text(
            ["A light in the storm: Row out to the wreck +10"]
        )
        expect(section.locator("[data-level]")).to_have_text(["+10"])
        screenshot(page, "member-stories")
        staff.assert_no_errors()
    finally:
        context.close()

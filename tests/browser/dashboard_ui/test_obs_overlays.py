"""The leaderboard and ticker overlays as OBS shows them, in headless Chromium: transparent,
no cookies, the stage scaled to fit, the long name fitted, and an award from another
process changing only its row or coming into view soon."""

from __future__ import annotations

import uuid

from tests.browser.dashboard_ui.helpers import LIVE, LONG_NAME, MARKS, overlay_page, screenshot
from tests.servers import run_django

pytestmark = MARKS


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


def lb_row(page, member_id: int):
    return page.locator(f"#stage .lb-row:not(.leaving)[data-member-id='{member_id}']")


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


# Marks each row's node (li.__probe) and records every row added to or removed from the
# list (window.__mutations), to tell an updated row from a re-created one.
ROW_PROBE = """() => {
  document.querySelectorAll("#stage .lb-row").forEach(li => {
    li.__probe = li.dataset.memberId;
  });
  window.__mutations = [];
  new MutationObserver(records => records.forEach(r => {
    r.addedNodes.forEach(n => window.__mutations.push(["added", n.className]));
    r.removedNodes.forEach(n => window.__mutations.push(["removed", n.className]));
  })).observe(document.querySelector("#stage .lb-rows"), {childList: true});
}"""

# The moment the new amount (600) lands: which rows are the old nodes, which animate.
AMOUNT_LANDED = """id => {
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
}"""


def assert_transparent_and_keeps_nothing(page, context) -> None:
    # Transparent for OBS: neither the page nor the body paints anything.
    for element in ("document.documentElement", "document.body"):
        colour = page.evaluate(f"getComputedStyle({element}).backgroundColor")
        assert colour in ("rgba(0, 0, 0, 0)", "transparent"), f"{element}: {colour}"
    assert page.evaluate("getComputedStyle(document.body).backgroundImage") == "none"

    # No cookies, no storage: nothing an OBS source would carry between streams.
    assert context.cookies() == []
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0


def assert_stage_scales_to_fit(page) -> None:
    """The 1920x1080 stage scales to fit, keeping its aspect; back to 1280x720 after."""
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


def assert_long_name_fits(page, member_id: int) -> None:
    """The very long name fits its row: shrunk, then cut with an ellipsis; the amount
    stays whole and visible."""
    fit = page.evaluate(NAME_FIT, member_id)
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


def assert_only_that_row_changed(seen: dict, members: dict[str, int], changed: int) -> None:
    """At the moment the amount landed: every row is its old node, and only the changed
    one flashes or animates."""
    rows = {r["id"]: r for r in seen["rows"]}
    assert set(rows) == {str(v) for v in members.values()}, seen
    for row_state in seen["rows"]:
        assert row_state["probe"] == row_state["id"], f"row re-created: {seen}"
        if row_state["id"] != str(changed):
            assert "flash" not in row_state["amountClasses"], seen
            assert row_state["transform"] == "", seen
            assert "enter" not in row_state["classes"], seen
    assert "flash-up" in rows[str(changed)]["amountClasses"], seen
    assert seen["animating"], f"nothing animates: {seen}"
    assert all(a["row"] == str(changed) for a in seen["animating"]), seen


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

        assert_transparent_and_keeps_nothing(page, context)
        assert_stage_scales_to_fit(page)
        assert_long_name_fits(page, m["long"])
        # Short names keep their full size.
        assert page.evaluate(NAME_FIT, m["ada"])["name"]["fontSize"] == 44
        screenshot(page, "overlay-leaderboard-long-name")

        # --- an award from another process: only that row changes -------------------------
        page.wait_for_function("() => !document.querySelector('#stage .lb-row.enter')")
        page.evaluate(ROW_PROBE)
        award = post_award(site.env, m["brook"], 100, "ui board")
        seen = page.wait_for_function(AMOUNT_LANDED, arg=m["brook"], timeout=LIVE).json_value()
        assert_only_that_row_changed(seen, m, m["brook"])
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


# The ticker item whose text has `name`, as it stands: how far its left edge is inside the bar
# (CSS px; negative: still to come), its width, and the stage px per CSS px.
LONG_ITEM = """name => {
  const bar = document.querySelector("#stage .ticker").getBoundingClientRect();
  const el = [...document.querySelectorAll("#stage .ticker-item")]
    .find(e => e.textContent.includes(name));
  const r = el.getBoundingClientRect();
  return {shown: bar.right - r.left, width: r.width, scale: window.ConcordOverlay.stageScale()};
}"""


def test_ticker_items_are_whole_and_a_new_one_comes_soon_even_behind_a_long_one(site, browser):
    """No item is cut short; and when a long item has just passed the point where it would
    yield its place (a third shown), a new award still comes into view within seconds: the
    bar speeds up to it, then slows back to the reading speed."""
    from playwright.sync_api import expect

    context, watched = overlay_page(browser, f"{site.base}{site.data['ticker']}")
    page = watched.page
    try:
        expect(page.locator("#stage .ticker-clone").first).to_be_attached()  # it scrolls
        cut = page.evaluate(
            """() => [...document.querySelectorAll("#stage .ticker-item")]
                .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""
        )
        assert cut == [], f"items cut short: {cut}"
        long = page.evaluate(LONG_ITEM, LONG_NAME)
        assert long["width"] / long["scale"] > 1200, long  # whole: far wider than a cut item
        # Hold the bar with the long item at its right edge, just over a third of it shown
        # (measured again: a late layout change, e.g. a font arriving, may move it).
        page.evaluate("window.concordTicker.hold(true)")
        for _ in range(5):
            now = page.evaluate(LONG_ITEM, LONG_NAME)
            if now["width"] / 3 + 20 < now["shown"] < now["width"] / 2:
                break
            shift = (now["width"] * 0.4 - now["shown"]) / now["scale"]
            page.evaluate("px => window.concordTicker.scrollBy(px)", shift)
        assert now["width"] / 3 + 20 < now["shown"] < now["width"] / 2, now
        award = post_award(site.env, site.members["cyd"], 260, "behind a long one")
        item = page.locator(f"#stage .ticker-item[data-seq='{award['seq']}']")
        expect(item).to_be_attached(timeout=LIVE)
        behind = page.evaluate(LONG_ITEM, LONG_NAME)
        # At the reading speed it would come in after the rest of the long item passed.
        assert (behind["width"] - behind["shown"]) / behind["scale"] / 110 > 5, behind
        page.evaluate("window.concordTicker.hold(false)")
        page.wait_for_function(f"seq => ({TICKER_ETA})(seq) === 0", arg=award["seq"], timeout=4_500)
        # Then back to the reading speed (a loop's wrap shows as a jump back: not measured).
        begin = page.evaluate(LONG_ITEM, LONG_NAME)["shown"]
        page.wait_for_timeout(1000)
        moved = (page.evaluate(LONG_ITEM, LONG_NAME)["shown"] - begin) / behind["scale"]
        if moved > 0:
            assert moved < 2 * 110, f"still fast: {moved:.0f} stage px in 1 s"
        watched.assert_no_errors()
    finally:
        context.close()


# --- overlay options in the URL ---------------------------------------------------------------


def test_overlay_options_rows_theme_accent_and_the_tickers_kinds(site, browser):
    from playwright.sync_api import expect

    board = f"{site.base}{site.data['board']}?rows=2&theme=light&accent=%2300aa55"
    context, watched = overlay_page(browser, board)
    try:
        page = watched.page
        expect(page.locator("#stage .lb-row:not(.leaving)")).to_have_count(2)
        expect(page.locator("#stage")).to_have_class("stage theme-light connected")
        rank_one = page.locator("#stage .lb-row[data-rank='1'] .lb-rank")
        expect(rank_one).to_have_css("color", "rgb(0, 170, 85)")
        expect(page.locator("#stage .panel").first).to_have_css(
            "background-color", "rgba(250, 250, 252, 0.9)"
        )
        watched.assert_no_errors()
    finally:
        context.close()
    ticker = f"{site.base}{site.data['ticker']}?kinds=member.registered"
    context, watched = overlay_page(browser, ticker)
    try:
        page = watched.page
        post_award(site.env, site.members["ada"], 7, "not on this ticker")
        joined = run_django(
            site.env,
            """
            from accounts.actions import register_member
            member = register_member(platform="web", external_id="kinds-1", username="Kim").member
            print(json.dumps(member.display_name))
            """,
        )
        expect(page.locator(".ticker-item", has_text=f"{joined} joined")).to_have_count(
            1, timeout=LIVE
        )
        expect(page.locator(".ticker-item", has_text="not on this ticker")).to_have_count(0)
        assert page.locator(".ticker-item", has_text="points").count() == 0
        screenshot(page, "overlay-ticker-kinds")
        watched.assert_no_errors()
    finally:
        context.close()

"""Staff pages that follow the servers live, in headless Chromium: the overlays page
(create a link, watch its connection in the fleet panel, reload it, revoke it), the
tournament board as players check in, and the story map as members choose."""

from __future__ import annotations

import re
import uuid

from tests.browser.dashboard_ui.helpers import (
    LIVE,
    MARKS,
    Watched,
    assert_amounts_on_screen,
    assert_nothing_clipped,
    expect_live,
    overlay_page,
    screenshot,
    wait_connected,
)
from tests.servers import run_django

pytestmark = MARKS

# ms: the hub writes the fleet to the cache every 5 s and the panel polls every 3 s.
FLEET = 15_000

# --- 5. overlays page: create, fleet, reload, revoke --------------------------------------------


# Counts, on the overlay, the closes from now on and every status change it reports.
WATCH_STATUSES = """() => {
  const stream = window.concordOverlay.stream, inner = stream.handlers.onStatus;
  window.__ws.closesBefore = window.__ws.closes.length;
  stream.handlers.onStatus = c => { window.__ws.statuses.push(c); inner(c); };
}"""


def create_leaderboard_link(dash, base: str, label: str) -> tuple:
    """Create a leaderboard link on the overlays page; its row in the table and its path."""
    from playwright.sync_api import expect

    form = dash.locator("form[action$='/overlays/new']")
    form.locator("select[name=scope]").select_option("leaderboard:points")
    form.locator("input[name=label]").fill(label)
    form.get_by_role("button", name="Create").click()
    dash.wait_for_url(f"{base}/dashboard/overlays/")
    expect(dash.get_by_role("status")).to_contain_text(
        re.compile(r"Created: http://127\.0\.0\.1:\d+/overlays/")
    )
    token_row = dash.locator("tr[data-token-id]", has_text=label)
    expect(token_row).to_have_count(1)
    expect(token_row.locator("td").nth(2)).to_have_text("leaderboard:points")
    href = token_row.get_by_role("link", name="open").get_attribute("href")
    assert href.startswith("/overlays/"), href
    assert href.endswith("/leaderboard/"), href
    return token_row, href


def reload_from_the_fleet(dash, overlay, fleet_row, first_id: str) -> str:
    """Reload: the overlay page reloads (a fresh window, a new connection); the new
    connection's id, listed in the fleet panel in place of the first."""
    from playwright.sync_api import expect

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
    return second_id


def revoke(dash, token_row) -> None:
    """Revoke the link from its row: first a confirmation that says what will happen
    (dismissed: nothing changes), then accepted; the row shows it revoked, with no Revoke
    button."""
    from playwright.sync_api import expect

    token_id = token_row.get_attribute("data-token-id")
    asked: list[str] = []

    def answer(accept: bool):
        def handle(dialog) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    dash.once("dialog", answer(False))
    token_row.get_by_role("button", name="Revoke").click()
    expect(token_row.get_by_role("button", name="Revoke")).to_be_visible()
    assert (
        dash.get_by_role("status").count() == 0
        or "Revoked" not in dash.get_by_role("status").all_inner_texts()
    )
    dash.once("dialog", answer(True))
    token_row.get_by_role("button", name="Revoke").click()
    expect(dash.get_by_role("status")).to_contain_text("Revoked")
    assert len(asked) == 2
    assert "stop updating and close at once" in asked[0]
    revoked_row = dash.locator(f"tr[data-token-id='{token_id}']")
    expect(revoked_row.locator(".badge.bad")).to_contain_text("revoked")
    expect(revoked_row.get_by_role("button", name="Revoke")).to_have_count(0)


def assert_closed_for_good(overlay, second_id: str) -> None:
    """The revoked overlay is closed, and stays closed, showing its last frame."""
    from playwright.sync_api import expect

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
        "() => parseFloat(getComputedStyle(document.querySelector('#stage .conn')).opacity) > 0.4"
    )
    assert overlay.locator("#stage .conn").is_visible()
    expect(overlay.locator("#stage .lb-row:not(.leaving)")).to_have_count(4)


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
        token_row, href = create_leaderboard_link(dash, site.base, label)

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

        second_id = reload_from_the_fleet(dash, overlay, fleet_row, first_id)

        # --- Revoke: the overlay is closed, and stays closed ----------------------------------
        overlay.evaluate(WATCH_STATUSES)
        revoke(dash, token_row)
        assert_closed_for_good(overlay, second_id)
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
        count = page.locator(f"svg.story-map text.choice-count[data-choice='{story['row_out']}']")
        expect(count).to_have_text("1")
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
            ["chapter 1, A light in the storm: Row out to the wreck +10"]
        )
        expect(section.locator("[data-level]")).to_have_text(["+10"])
        screenshot(page, "member-stories")
        staff.assert_no_errors()
    finally:
        context.close()


# --- the activity feed: readable lines, filters, only new rows highlighted -----------------


def test_the_activity_feed_highlights_only_new_rows_and_filters_by_kind(site, staff_state, browser):
    from playwright.sync_api import expect

    def award(reason: str) -> None:
        run_django(
            site.env,
            f"""
            from accounts.models import Member
            from ledger.actions import award
            award(Member.objects.get(pk={site.members["ada"]}), 3, reason="{reason}",
                  idempotency_key="{uuid.uuid4().hex}")
            print(json.dumps(True))
            """,
        )

    award("before the page")
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, storage_state=staff_state
    )
    try:
        staff = Watched(context.new_page())
        home = staff.page
        home.goto(f"{site.base}/dashboard/")
        expect_live(home)
        old = home.locator("#feed .feed-item", has_text="before the page")
        expect(old).to_contain_text("Ada +3 points (before the page)")
        expect(old.get_by_role("link", name="Ada")).to_have_attribute(
            "href", f"/dashboard/members/{site.members['ada']}/"
        )
        award("live one")
        fresh = home.locator("#feed .feed-item", has_text="live one")
        expect(fresh).to_have_class(re.compile(r"\bnew\b"), timeout=LIVE)
        expect(home.locator("#feed .feed-item", has_text="before the page")).not_to_have_class(
            re.compile(r"\bnew\b")
        )
        home.get_by_role("button", name="Tournaments").click()
        expect(fresh).to_be_hidden()
        home.get_by_role("button", name="Money").click()
        expect(fresh).to_be_visible()
        home.reload()
        expect(home.get_by_role("button", name="Money")).to_have_attribute("aria-pressed", "true")
        screenshot(home, "home-feed")
        staff.assert_no_errors()
    finally:
        context.close()

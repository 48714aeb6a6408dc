"""The dashboard as a control room, in Chromium: an Organiser runs a 4-player tournament
night from the tournament page alone (create the draft, open registration, register the
players by search, open check-in, check each in, close check-in, generate the bracket,
record every result by choosing the winner in the bracket, finalize) while the
tournament overlay, in another page, shows each step live; then a Treasurer awards,
deducts and reverses from a member page, and sees a refusal explained beside the form."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from tests.browser.dashboard_ui.helpers import LIVE, MARKS, Watched, overlay_page, screenshot
from tests.servers import run_django

pytestmark = MARKS

ZONE = "Europe/Berlin"  # the browser's time zone: the form's windows are typed in it
PASSWORD = "correct-horse-room-42"


def staff_users(site) -> None:
    run_django(
        site.env,
        f"""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        for name, role in (("ui-organiser", "Organiser"), ("ui-treasurer", "Treasurer")):
            user = get_user_model().objects.create_user(name, password={PASSWORD!r},
                                                        is_staff=True)
            user.groups.add(Group.objects.get(name=role))
        print(json.dumps(True))
        """,
    )


def logged_in(browser, site, username: str) -> Watched:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, timezone_id=ZONE)
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{site.base}/admin/login/?next=/dashboard/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{site.base}/dashboard/")
    watched.dialogs = []

    def accept(dialog):
        watched.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return watched


def local(moment: datetime) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


def create_draft(page, base: str) -> int:
    """The New tournament form: windows in the browser's zone, prizes as rows."""
    from playwright.sync_api import expect

    page.goto(f"{base}/dashboard/tournaments/")
    page.get_by_role("link", name="New tournament").click()
    expect(page.locator("select[name=time_zone]")).to_have_value(ZONE)
    now = datetime.now().astimezone()
    page.fill("input[name=name]", "Control Room Cup")
    page.fill("input[name=game]", "chess")
    page.fill("input[name=entry_fee]", "0")
    page.fill("input[name=capacity]", "4")
    windows = {
        "registration_opens_at": now - timedelta(hours=1),
        "registration_closes_at": now + timedelta(hours=1),
        "check_in_opens_at": now + timedelta(hours=1),
        "check_in_closes_at": now + timedelta(hours=2),
    }
    for name, moment in windows.items():
        page.fill(f"input[name={name}]", local(moment))
    expect(page.locator("[data-utc-for=check_in_closes_at]")).to_contain_text("UTC")
    page.locator("input[name=prize_amount]").nth(0).fill("300")
    page.locator("input[name=prize_amount]").nth(1).fill("100")
    page.get_by_role("button", name="Create draft").click()
    page.wait_for_url(f"{base}/dashboard/tournaments/*/")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def status_is(page, label: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#tournament-panel [data-status]")).to_have_text(label, timeout=LIVE)


def register_players(page, names: list[str]) -> None:
    from playwright.sync_api import expect

    for count, name in enumerate(names, start=1):
        page.fill("#register-search", name)
        page.get_by_role("button", name=f"Register {name}").click()
        expect(page.locator("#tournament-panel [data-seated]")).to_have_text(
            f"{count}/4", timeout=LIVE
        )


def assert_connected(page, selector: str) -> None:
    """The final sits level with the middle of the two matches feeding it, so the bracket's
    connector lines (a stub out of each, a vertical joining them, a stub into the final)
    meet."""

    def middle(round_: int, slot: int) -> float:
        # The panel may be swapped by a live refresh while it is measured: wait until the
        # match is shown, and measure again if it was replaced in between.
        match = page.locator(selector.format(round_, slot))
        for _ in range(5):
            match.wait_for(state="visible")
            box = match.bounding_box()
            if box is not None:
                return box["y"] + box["height"] / 2
        raise AssertionError(f"{selector.format(round_, slot)} kept being replaced")

    between = (middle(1, 1) + middle(1, 2)) / 2
    assert abs(middle(2, 1) - between) <= 3, (middle(1, 1), middle(1, 2), middle(2, 1))


def record(page, match: str, side: int, score: str) -> None:
    """Choose the winner in the bracket (the first or second side) and type the score."""
    form = page.locator(f"#tournament-panel [data-match={match}] form.result-form")
    form.locator("input[name=winner]").nth(side).check()
    form.locator("input[name=score]").fill(score)
    form.get_by_role("button", name="Record").click()


def treasurer_adjusts(browser, site) -> None:
    """A Treasurer on a member page: award, deduct, a deduction refused in place, reverse."""
    from playwright.sync_api import expect

    treasurer = logged_in(browser, site, "ui-treasurer")
    page = treasurer.page
    try:
        page.goto(f"{site.base}/dashboard/members/{site.members['brook']}/")
        wallet = page.locator("[data-wallet=points]")
        start = int(wallet.get_attribute("data-amount"))
        form = page.locator("form.adjust")

        def adjust(amount: str, reason: str, button: str) -> None:
            form.locator("input[name=amount]").fill(amount)
            form.locator("input[name=reason]").fill(reason)
            form.get_by_role("button", name=button).click()

        adjust("50", "stream giveaway", "Award")
        expect(wallet).to_have_attribute("data-amount", str(start + 50), timeout=LIVE)
        adjust("20", "late fee", "Deduct")
        expect(wallet).to_have_attribute("data-amount", str(start + 30), timeout=LIVE)
        adjust("999999999", "too much", "Deduct")
        expect(page.locator("#refusal-adjust [data-refusal]")).to_be_visible(timeout=LIVE)
        expect(wallet).to_have_attribute("data-amount", str(start + 30))
        row = page.locator("table.statement tr", has_text="stream giveaway")
        row.locator("input[name=reason]").fill("given twice")
        row.get_by_role("button", name="Reverse").click()
        expect(wallet).to_have_attribute("data-amount", str(start - 20), timeout=LIVE)
        assert "undone" in treasurer.dialogs[-1]
        screenshot(page, "control-room-member", full_page=True)
        treasurer.assert_no_errors()
    finally:
        page.context.close()


def check_everyone_in(page, site, tournament_id: int, stage) -> None:
    """A bot checks Ada in (the panel follows by itself, keeping its buttons); the
    organiser checks the other three in, one click each."""
    from playwright.sync_api import expect

    # A bot checks Ada in: the panel updates by itself and keeps its buttons.
    run_django(
        site.env,
        f"""
        from tournaments.actions import check_in
        from tournaments.models import Registration
        check_in(Registration.objects.get(tournament_id={tournament_id},
                                          member_id={site.members["ada"]}))
        print(json.dumps(True))
        """,
    )
    expect(page.locator("#tournament-panel [data-checked-in]")).to_have_text("1/4", timeout=LIVE)
    expect(page.locator("#tournament-panel").get_by_role("button", name="Check in")).to_have_count(
        3
    )
    for done in range(2, 5):
        page.locator("#tournament-panel").get_by_role("button", name="Check in").first.click()
        expect(page.locator("#tournament-panel [data-checked-in]")).to_have_text(
            f"{done}/4", timeout=LIVE
        )
    expect(stage.locator(".tb-player.in")).to_have_count(4, timeout=LIVE)


def test_an_organiser_runs_a_night_and_a_treasurer_adjusts(site, browser):
    from playwright.sync_api import expect

    staff_users(site)
    organiser = logged_in(browser, site, "ui-organiser")
    page = organiser.page
    tournament_id = create_draft(page, site.base)
    status_is(page, "Draft")
    token = run_django(
        site.env,
        f"""
        from dashboard.actions import create_token
        print(json.dumps(create_token("tournament:{tournament_id}", label="room").path))
        """,
    )
    overlay_context, overlay = overlay_page(browser, f"{site.base}{token}")
    stage = overlay.page.locator("#stage")
    try:
        page.get_by_role("button", name="Open registration").click()
        status_is(page, "Registration open")
        register_players(page, ["Ada", "Brook", "Cyd"])
        # The fourth by their number (#id), as the search box offers.
        page.fill("#register-search", f"#{site.members['long']}")
        page.locator("#register-found button").click()
        expect(page.locator("#tournament-panel [data-seated]")).to_have_text("4/4", timeout=LIVE)
        expect(stage.locator("[data-count=seated] .tb-count-value")).to_have_text(
            "4/4", timeout=LIVE
        )

        page.get_by_role("button", name="Open check-in").click()
        status_is(page, "Check-in open")
        check_everyone_in(page, site, tournament_id, stage)

        page.get_by_role("button", name="Close check-in").click()
        status_is(page, "In progress")
        assert "no-shows" in organiser.dialogs[-1]
        page.get_by_role("button", name="Generate bracket").click()
        final = page.locator("#tournament-panel [data-match=R2M1]")
        expect(final).to_contain_text("Winner of R1 M1")
        expect(final).to_contain_text("Winner of R1 M2")
        overlay_final = stage.locator("[data-match=R2M1]")
        expect(overlay_final).to_contain_text("Winner of R1 M1", timeout=LIVE)
        expect(stage.locator(".tb-side", has_text="bye")).to_have_count(0)
        assert_connected(page, "#tournament-panel [data-match=R{}M{}]")
        assert_connected(overlay.page, "#stage [data-match=R{}M{}]")

        record(page, "R1M1", 0, "2-1")
        expect(page.locator("#tournament-panel [data-match=R1M1] .won .score")).to_have_text("2-1")
        expect(stage.locator("[data-match=R1M1] .won .tb-score")).to_have_text("2-1", timeout=LIVE)
        record(page, "R1M2", 1, "3-0")
        expect(final.locator("form.result-form")).to_be_visible(timeout=LIVE)
        expect(stage.locator("[data-match=R2M1] .placeholder")).to_have_count(0, timeout=LIVE)
        record(page, "R2M1", 0, "2-0")
        expect(final.locator(".won .score")).to_have_text("2-0", timeout=LIVE)
        page.get_by_role("button", name="Finalize").click()
        status_is(page, "Completed")
        assert "prizes" in organiser.dialogs[-1]
        expect(stage.locator("[data-match=R2M1] .won .tb-score")).to_have_text("2-0", timeout=LIVE)
        screenshot(page, "control-room-tournament", full_page=True)
        screenshot(overlay.page, "control-room-overlay")
        organiser.assert_no_errors()
        overlay.assert_no_errors()
    finally:
        overlay_context.close()
        page.context.close()

    treasurer_adjusts(browser, site)


def eight_player_draft(page, base: str) -> int:
    """A draft for 8 players with a waitlist, made in the form like the 4-player one."""
    page.goto(f"{base}/dashboard/tournaments/new")
    now = datetime.now().astimezone()
    page.fill("input[name=name]", "Eight Night")
    page.fill("input[name=game]", "chess")
    page.fill("input[name=entry_fee]", "0")
    page.fill("input[name=capacity]", "8")
    page.fill("input[name=waitlist_limit]", "4")
    for name, hours in (
        ("registration_opens_at", -1),
        ("registration_closes_at", 1),
        ("check_in_opens_at", 1),
        ("check_in_closes_at", 2),
    ):
        page.fill(f"input[name={name}]", local(now + timedelta(hours=hours)))
    page.locator("input[name=prize_amount]").nth(0).fill("500")
    page.get_by_role("button", name="Create draft").click()
    page.wait_for_url(f"{base}/dashboard/tournaments/*/")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def test_an_organiser_runs_an_eight_player_night_with_a_waitlist(site, browser):
    """The issue's night: register 10 (8 seated, 2 waitlisted), check 7 in, close
    check-in, the bracket, every result, finalize; the overlay follows to the champion."""
    from playwright.sync_api import expect

    staff_users(site)
    names = [f"Player{n:02d}" for n in range(1, 11)]
    run_django(
        site.env,
        f"""
        from accounts.actions import register_member
        for name in {names!r}:
            register_member(platform="web", external_id=f"night-{{name}}", username=name)
        print(json.dumps(True))
        """,
    )
    organiser = logged_in(browser, site, "ui-organiser")
    page = organiser.page
    panel = page.locator("#tournament-panel")
    tournament_id = eight_player_draft(page, site.base)
    token = run_django(
        site.env,
        f"""
        from dashboard.actions import create_token
        print(json.dumps(create_token("tournament:{tournament_id}", label="night").path))
        """,
    )
    overlay_context, overlay = overlay_page(browser, f"{site.base}{token}")
    stage = overlay.page.locator("#stage")
    try:
        page.get_by_role("button", name="Open registration").click()
        status_is(page, "Registration open")
        for name in names:
            page.fill("#register-search", name)
            page.get_by_role("button", name=f"Register {name}").click()
            expect(panel.locator("#register-found")).not_to_contain_text(name, timeout=LIVE)
        expect(panel.locator("[data-seated]")).to_have_text("8/8", timeout=LIVE)
        expect(panel.locator("ol.waitlist li")).to_have_count(2, timeout=LIVE)
        expect(stage.locator("[data-count=seated] .tb-count-value")).to_have_text(
            "8/8", timeout=LIVE
        )
        page.get_by_role("button", name="Open check-in").click()
        status_is(page, "Check-in open")
        for done in range(1, 8):
            panel.get_by_role("button", name="Check in").first.click()
            expect(panel.locator("[data-checked-in]")).to_have_text(f"{done}/8", timeout=LIVE)
        expect(stage.locator(".tb-player.in")).to_have_count(7, timeout=LIVE)
        page.get_by_role("button", name="Close check-in").click()
        status_is(page, "In progress")
        page.get_by_role("button", name="Generate bracket").click()
        expect(panel.locator("[data-match=R3M1]")).to_be_visible(timeout=LIVE)
        played = 0
        while panel.locator("form.result-form").count():
            form = panel.locator("form.result-form").first
            match = form.locator("xpath=ancestor::*[@data-match][1]").get_attribute("data-match")
            record(page, match, 0, "1-0")
            expect(panel.locator(f"[data-match={match}] .won .score")).to_have_text(
                "1-0", timeout=LIVE
            )
            played += 1
        assert played >= 6  # 7 players: one bye in round 1, then every match
        page.get_by_role("button", name="Finalize").click()
        status_is(page, "Completed")
        expect(stage.locator("[data-match=R3M1] .won .tb-score")).to_have_text("1-0", timeout=LIVE)
        screenshot(page, "control-room-eight-night", full_page=True)
        screenshot(overlay.page, "control-room-eight-night-overlay")
        organiser.assert_no_errors()
        overlay.assert_no_errors()
    finally:
        overlay_context.close()
        page.context.close()

"""The staff dashboard in headless Chromium on a phone (every page fits and stacks, nothing
cut off, the long name leaves its amount on screen) and in both themes (the toggle, the
OS preference, persisting across pages and reloads)."""

from __future__ import annotations

import itertools

from tests.browser.dashboard_ui.helpers import (
    LONG_NAME,
    MARKS,
    Watched,
    assert_amounts_on_screen,
    assert_nothing_clipped,
    expect_live,
    screenshot,
)

pytestmark = MARKS

PHONE = {"width": 375, "height": 812}

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


def phone_as_staff(browser, staff_state):
    """A phone's browser context (light scheme), signed in as the staff user."""
    return browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=staff_state,
        color_scheme="light",
    )


def test_phone_dashboard_pages_fit_and_stack(site, staff_state, browser):
    from playwright.sync_api import expect

    context = phone_as_staff(browser, staff_state)
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

    context = phone_as_staff(browser, staff_state)
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

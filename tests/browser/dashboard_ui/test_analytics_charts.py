"""The analytics page in headless Chromium: uPlot draws every chart in both themes and on
a phone, with no console error and no request leaving the server; the numbers a chart
shows are its table's, and the table agrees with a query of the source rows made
independently here. Screenshots of each chart in both themes go to the artifacts."""

from __future__ import annotations

from tests.browser.dashboard_ui.helpers import MARKS, Watched, screenshot
from tests.servers import run_django

pytestmark = MARKS

PHONE = {"width": 375, "height": 812}
DRAWN = """() => {
  const boxes = [...document.querySelectorAll("[data-chart]")];
  return boxes.length > 0 && boxes.every(b => b.querySelector(".uplot[data-drawn] canvas"));
}"""
# The canvas has pixels that are not the background: something was drawn.
INKED = """(slug) => {
  const c = document.querySelector(`[data-chart="${slug}"] canvas`);
  const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let inked = 0;
  for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
  return inked;
}"""


WIDE = """() => [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 8)
  .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


def _history(site) -> int:
    """Activity and a spend today, rolled up by another process; returns the number of
    members registered today, counted from accounts_member (not from the rollups)."""
    found = run_django(
        site.env,
        """
        from django.utils import timezone
        from accounts.models import Member
        from analytics.actions import rebuild_days
        from ledger.achievements import record_activity
        from ledger.actions import spend
        for member in Member.objects.order_by("pk")[:3]:
            record_activity(member)
        spend(Member.objects.order_by("pk").first(), 30, sink="shop", reason="hat",
              idempotency_key="ui-analytics-spend")
        today = timezone.now().date()
        rebuild_days(today, today)
        start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        print(json.dumps({"registered": Member.objects.filter(created_at__gte=start).count()}))
        """,
    )
    return found["registered"]


def test_the_analytics_page_draws_its_charts_in_both_themes(site, browser, staff_state):
    registered = _history(site)
    for theme, viewport in (("light", None), ("dark", None), ("dark", PHONE), ("light", PHONE)):
        context = browser.new_context(
            storage_state=staff_state,
            viewport=viewport or {"width": 1280, "height": 900},
            color_scheme=theme,
        )
        requests: list[str] = []
        context.on("request", lambda request, seen=requests: seen.append(request.url))
        watched = Watched(context.new_page())
        page = watched.page
        page.goto(f"{site.base}/dashboard/analytics/?range=7d")
        page.wait_for_function(DRAWN)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= page.evaluate(
            "() => window.innerWidth"
        ), page.evaluate(WIDE)
        for slug in page.eval_on_selector_all(
            "[data-chart]", "els => els.map(e => e.dataset.chart)"
        ):
            assert page.evaluate(INKED, slug) > 0, f"{slug}: nothing drawn"
            if viewport is None:
                screenshot(page.locator(f"#chart-{slug}"), f"analytics-{slug}-{theme}")
        page.wait_for_selector('[data-today="registered"]')  # the live tile came
        today = page.locator('[data-numbers="members"] tbody tr').last
        assert today.locator("td").first.inner_text() == str(registered)
        size = "phone" if viewport else "desktop"
        screenshot(page, f"analytics-page-{theme}-{size}", full_page=True)
        watched.assert_no_errors()
        errors = [line for line in watched.console if line.startswith(("[error]", "[warning]"))]
        assert not errors, errors
        outside = [url for url in requests if not url.startswith(site.base)]
        assert requests, "no request recorded"
        assert not outside, outside
        context.close()


def test_the_theme_toggle_redraws_the_charts_in_its_colours(site, browser, staff_state):
    _history(site)
    context = browser.new_context(storage_state=staff_state, color_scheme="light")
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{site.base}/dashboard/analytics/?range=30d")
    page.wait_for_function(DRAWN)
    axis = "() => getComputedStyle(document.documentElement).getPropertyValue('--chart-1')"
    light = page.evaluate(axis)
    page.click("[data-theme-toggle]")
    page.wait_for_function(DRAWN)
    assert page.evaluate(axis) != light
    # Today's tile follows the ledger: an award shows within its 10 s refresh.
    issued = page.locator('[data-today="issued:points"]')
    before = int(issued.inner_text().replace(",", ""))
    run_django(
        site.env,
        """
        from accounts.models import Member
        from ledger.actions import award
        award(Member.objects.order_by("pk").first(), 777, reason="live",
              idempotency_key="ui-analytics-live")
        print(json.dumps({}))
        """,
    )
    page.wait_for_function(
        "want => document.querySelector('[data-today=\"issued:points\"]')"
        ".textContent.replace(/,/g, '') === String(want)",
        arg=before + 777,
        timeout=20_000,
    )
    watched.assert_no_errors()
    context.close()

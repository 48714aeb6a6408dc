"""axe-core (vendored in tests/browser/vendor/axe-core, injected by the test, never
served) finds no serious or critical accessibility violation on any dashboard page, in
both themes, on a desktop and on a phone, nor on the overlays. Each page is kept as a
screenshot in each of the four (test-artifacts/dashboard-ui/page-<name>-<theme>[-phone])."""

from __future__ import annotations

import json

import pytest

from tests.browser.dashboard_ui.helpers import ARTIFACTS, MARKS, screenshot
from tests.servers import ROOT, run_django

pytestmark = MARKS

AXE = (ROOT / "tests" / "browser" / "vendor" / "axe-core" / "axe.min.js").read_text()
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
}"""


def violations(page) -> list[dict]:
    page.evaluate(AXE)
    return page.evaluate(RUN_AXE)


def pages(site) -> dict[str, str]:
    made = run_django(
        site.env,
        """
        from datetime import timedelta
        from django.utils import timezone
        from narrative.demo import load_demo_story
        from tournaments.actions import create_tournament, open_registration
        now = timezone.now()
        t = create_tournament(
            name="A11y Cup", game="chess", currency="points", entry_fee=0, capacity=4,
            registration_opens_at=now - timedelta(hours=1),
            registration_closes_at=now + timedelta(hours=1),
            check_in_opens_at=now + timedelta(hours=1),
            check_in_closes_at=now + timedelta(hours=2))
        open_registration(t)
        print(json.dumps({"tournament": t.pk, "story": load_demo_story().pk}))
        """,
    )
    member = site.members["ada"]
    return {
        "home": "/dashboard/",
        "members": "/dashboard/members/",
        "member": f"/dashboard/members/{member}/",
        "tournaments": "/dashboard/tournaments/",
        "tournament": f"/dashboard/tournaments/{made['tournament']}/",
        "stories": "/dashboard/stories/",
        "story": f"/dashboard/stories/{made['story']}/",
        "integrity": "/dashboard/integrity/",
        "overlays": "/dashboard/overlays/",
        "api-keys": "/dashboard/api-keys/",
    }


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize(
    ("theme", "phone"), [("light", False), ("dark", False), ("light", True), ("dark", True)]
)
def test_no_serious_accessibility_violation_on_any_dashboard_page(
    site, staff_state, browser, theme, phone
):
    """On a desktop and on a phone (390x844), in both themes."""
    context = browser.new_context(
        viewport=PHONE if phone else {"width": 1280, "height": 900},
        storage_state=staff_state,
        color_scheme=theme,
        is_mobile=phone,
        has_touch=phone,
    )
    context.add_init_script(f"localStorage.setItem('concord-theme', {json.dumps(theme)})")
    found = {}
    try:
        page = context.new_page()
        for name, path in pages(site).items():
            page.goto(f"{site.base}{path}")
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.dataset.theme") == theme
            found[name] = violations(page)
            screenshot(page, f"page-{name}-{theme}{'-phone' if phone else ''}", full_page=True)
    finally:
        context.close()
    report = ARTIFACTS / f"a11y-{theme}{'-phone' if phone else ''}.json"
    report.write_text(json.dumps(found, indent=1))
    assert {name: v for name, v in found.items() if v} == {}


def test_no_serious_accessibility_violation_on_the_overlays(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    found = {}
    try:
        page = context.new_page()
        for name in ("board", "ticker"):
            page.goto(f"{site.base}{site.data[name]}")
            page.wait_for_selector("#stage.connected", state="attached")
            found[name] = violations(page)
    finally:
        context.close()
    assert {name: v for name, v in found.items() if v} == {}

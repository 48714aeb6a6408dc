"""An Owner erases a member's personal data from the dashboard's member page, in a real
browser: the page says what happens, asks to confirm, and shows the tombstone; a
Treasurer is not offered the control, and a POST they forge is refused (403)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.models import Member
from tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-42"


def log_in_as(page, live_server, django_user_model, role: str) -> None:
    user = django_user_model.objects.create_user(role.lower(), password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", role.lower())
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


@pytest.fixture
def carol(db):
    return MemberFactory(
        platform="telegram", external_id="777001", username="carol", email="carol@example.org"
    )


def test_an_owner_erases_a_member_and_the_page_shows_the_tombstone(
    page, live_server, django_user_model, carol
):
    log_in_as(page, live_server, django_user_model, "Owner")
    page.goto(f"{live_server.url}/dashboard/members/{carol.pk}/")
    section = page.locator("section.erase")
    assert "cannot be undone" in section.inner_text()
    asked = []

    def confirm(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    section.locator("input[name=reason]").fill("subject request #7")
    section.locator("button", has_text="Erase personal data").click()
    page.wait_for_selector("[data-erased]")
    assert "cannot be undone" in asked[0]
    assert page.locator("#member-page h2").first.text_content().startswith(f"erased:{carol.pk}")
    assert "carol@example.org" not in page.content()
    assert Member.objects.get(pk=carol.pk).display_name == f"erased:{carol.pk}"


def test_a_treasurer_is_not_offered_erasure_and_a_forged_post_is_refused(
    page, live_server, django_user_model, carol
):
    log_in_as(page, live_server, django_user_model, "Treasurer")
    page.goto(f"{live_server.url}/dashboard/members/{carol.pk}/")
    page.wait_for_selector("#member-page")
    assert page.locator("section.erase").count() == 0
    status = page.evaluate(
        """async (url) => {
            const headers = JSON.parse(document.querySelector('#member-page')
                .getAttribute('hx-headers'));
            const answer = await fetch(url, {
                method: 'POST',
                headers: {...headers, 'HX-Request': 'true'},
                body: new URLSearchParams({slot: 'erase', reason: 'forged'}),
            });
            return answer.status;
        }""",
        f"/dashboard/members/{carol.pk}/erase",
    )
    assert status == 403
    assert Member.objects.get(pk=carol.pk).display_name != f"erased:{carol.pk}"

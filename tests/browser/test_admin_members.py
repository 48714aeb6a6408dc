"""A staff member registers and finds a member in the admin, in a real browser."""

from __future__ import annotations

import pytest

from accounts.models import Member
from events.models import Event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, django_user_model):
    django_user_model.objects.create_superuser("ops", "ops@example.org", "correct-horse-42")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "correct-horse-42")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_staff_registers_a_member_in_the_admin_and_finds_them(page, live_server, django_user_model):
    log_in(page, live_server, django_user_model)
    page.goto(f"{live_server.url}/admin/accounts/member/add/")
    page.select_option("#id_platform", "discord")
    page.fill("#id_external_id", "987654321")
    page.fill("#id_username", "Night Owl")
    page.fill("#id_new_email", "Night.Owl+stream@GoogleMail.com")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    member = Member.objects.by_identity("discord", "987654321")
    assert member.email_normalized == "nightowl@gmail.com"
    assert Event.objects.filter(kind="member.registered", subject=f"member:{member.pk}").exists()

    page.fill("#searchbar", "987654321")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    page.click("#result_list tbody tr th a")
    page.wait_for_selector("text=987654321")
    assert page.locator("#id_email").input_value() == "Night.Owl+stream@GoogleMail.com"


def test_the_admin_shows_why_a_registration_is_refused(page, live_server, django_user_model):
    from accounts.actions import register_member

    register_member(platform="telegram", external_id="1", email="taken@gmail.com")
    log_in(page, live_server, django_user_model)
    page.goto(f"{live_server.url}/admin/accounts/member/add/")
    page.select_option("#id_platform", "web")
    page.fill("#id_external_id", "web-2")
    page.fill("#id_new_email", "T.A.K.E.N@gmail.com")
    page.click("input[name=_save]")
    error = page.wait_for_selector(".errornote, .errorlist")
    assert error.is_visible()
    assert "already registered" in page.content()
    assert Member.objects.count() == 1

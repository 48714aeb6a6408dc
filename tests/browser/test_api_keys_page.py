"""The API keys page (/dashboard/api-keys/) in a real browser: the Owner creates a key,
sees it once, and revokes it after confirming; a Viewer is refused."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group

from api.actions import authenticate
from api.models import ApiKey
from dashboard import roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TOKEN = re.compile(r"^cnc_[a-z0-9]{8}_[A-Za-z0-9_-]+$")


def log_in_as(page, live_server, django_user_model, role: str) -> None:
    user = django_user_model.objects.create_user(
        f"keys-{role.lower()}", password="correct-horse-keys-42", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    page.goto(f"{live_server.url}/admin/login/?next=/dashboard/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "correct-horse-keys-42")
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_the_owner_creates_a_key_sees_it_once_and_revokes_it_after_confirming(
    page, live_server, django_user_model
):
    log_in_as(page, live_server, django_user_model, roles.OWNER)
    page.goto(f"{live_server.url}/dashboard/api-keys/")
    page.fill("input[name=label]", "Quiz bot")
    page.check("input[name=scope][value='ledger:write']")
    page.check("input[name=scope][value='events:read']")
    page.click("button:has-text('Create')")
    token = page.locator("[data-issued-key]").inner_text().strip()
    assert TOKEN.match(token)
    key = ApiKey.objects.get()
    assert authenticate(token) == key
    row = page.locator(f"tr[data-key-prefix='{key.prefix}']")
    assert "Quiz bot" in row.inner_text()

    page.goto(f"{live_server.url}/dashboard/api-keys/")  # shown once: not again
    assert token not in page.content()
    row = page.locator(f"tr[data-key-prefix='{key.prefix}']")
    confirm = row.locator(f"button:has-text('Revoke {key.prefix}')")
    assert not confirm.is_visible()  # revoking takes a second, deliberate click
    row.locator("summary:has-text('Revoke')").click()
    assert "stop working at once" in row.inner_text()
    confirm.click()
    page.wait_for_selector(f"tr[data-key-prefix='{key.prefix}'] .badge.bad")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert authenticate(token) is None


def test_a_viewer_is_refused_the_keys_page(page, live_server, django_user_model):
    log_in_as(page, live_server, django_user_model, roles.VIEWER)
    answer = page.goto(f"{live_server.url}/dashboard/api-keys/")
    assert answer.status == 403
    assert "api.manage_api_keys" in page.content()
    assert page.locator("input[name=label]").count() == 0
    assert not ApiKey.objects.exists()

"""The admin side of configuration history (PostgreSQL): an admin edit names its staff
user, the history list shows the diff, and its action reverts a row to a version."""

from __future__ import annotations

import pytest

from events.models import Event
from ledger.models import Currency

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def edit_points(client, currency, **changes) -> None:
    data = {
        "name": currency.name,
        "signup_bonus": currency.signup_bonus,
        "referral_bonus": currency.referral_bonus,
    } | changes
    answer = client.post(f"/admin/ledger/currency/{currency.pk}/change/", data)
    assert answer.status_code == 302, answer.content.decode()[:2000]


def test_an_admin_edit_is_a_version_naming_the_staff_user(admin_client, staff):
    currency = Currency.objects.get(code="points")
    edit_points(admin_client, currency, signup_bonus=150)
    version = currency.versions.order_by("-pgh_id").first()
    assert version.signup_bonus == 150
    assert version.pgh_context.metadata["user"] == staff.pk
    event = Event.objects.filter(kind="config.changed").latest("seq")
    assert event.actor_id == staff.pk
    assert event.data["fields"] == ["signup_bonus"]
    listing = admin_client.get("/admin/pghistory/events/").content.decode()
    assert "signup_bonus" in listing  # the diff column


def test_the_history_list_reverts_a_row_to_a_selected_version(admin_client, staff):
    currency = Currency.objects.get(code="points")
    baseline = currency.versions.get(pgh_label="baseline")
    edit_points(admin_client, currency, signup_bonus=150, name="Pointz")
    answer = admin_client.post(
        "/admin/pghistory/events/",
        {
            "action": "revert_to_this_version",
            "_selected_action": [f"ledger.CurrencyEvent:{baseline.pgh_id}"],
        },
    )
    assert answer.status_code == 302
    currency.refresh_from_db()
    assert (currency.name, currency.signup_bonus) == (baseline.name, baseline.signup_bonus)
    event = Event.objects.filter(kind="config.changed").latest("seq")
    assert event.actor_id == staff.pk
    assert event.data["fields"] == ["name", "signup_bonus"]

"""The dashboard's member page shows a member's payments and readings to the roles that
hold money (Treasurer, Owner), and neither to a Viewer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from payments.actions import begin_reading, fail_payment, finish_reading
from tests.factories import UserFactory
from tests.payments.helpers import start

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client, paid, reader, bob):
    start(reader, "pi_declined")
    fail_payment("stripe", "pi_declined", error_message="card_declined")
    held = begin_reading(
        reader, spread="celtic_cross", question="New job?", price=25, idempotency_key="a"
    )
    finish_reading(held, cards=["Ace of Wands", "The Chariot"], interpretation="Go.")

    def as_role(role: str) -> str:
        user = UserFactory(username=f"page-{role.lower()}")
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        response = client.get(f"/dashboard/members/{reader.pk}/")
        assert response.status_code == 200
        return response.content.decode()

    return as_role


def test_a_treasurer_sees_the_members_payments_and_readings(page):
    html = page("Treasurer")
    assert "pi_1" in html
    assert "499 EUR" in html
    assert "pi_declined" in html
    assert "card_declined" in html
    assert "Celtic cross" in html
    assert "New job?" in html
    assert "Ace of Wands, The Chariot" in html


def test_a_viewer_sees_neither(page):
    html = page("Viewer")
    assert "member-payments" not in html
    assert "member-readings" not in html
    assert "pi_declined" not in html
    assert "New job?" not in html

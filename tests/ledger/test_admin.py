"""The admin shows the ledger read-only; adjustments and reversals go through the actions."""

from __future__ import annotations

import pytest

from ledger.actions import award
from ledger.models import Account, Transfer, TransferKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def wallet_of(member, currency="points") -> Account:
    return Account.objects.get(member=member, currency__code=currency)


def adjust(admin_client, wallets, **data):
    return admin_client.post(
        "/admin/ledger/account/",
        {
            "action": "adjust_balance",
            "_selected_action": [w.pk for w in wallets],
            "apply": "1",
            **data,
        },
    )


def test_adjust_balance_asks_for_amount_and_reason_first(admin_client, alice):
    response = admin_client.post(
        "/admin/ledger/account/",
        {"action": "adjust_balance", "_selected_action": [wallet_of(alice).pk]},
    )
    assert response.status_code == 200
    assert b'name="amount"' in response.content
    assert b'name="reason"' in response.content
    assert wallet_of(alice).balance == 100


def test_adjust_balance_awards_and_spends_as_the_staff_user(admin_client, staff, alice, bob):
    response = adjust(
        admin_client, [wallet_of(alice), wallet_of(bob)], amount="25", reason="stream", token="t1"
    )
    assert response.status_code == 302
    assert (wallet_of(alice).balance, wallet_of(bob).balance) == (125, 125)
    adjust(admin_client, [wallet_of(alice)], amount="-30", reason="typo", token="t2")
    assert wallet_of(alice).balance == 95
    adjustments = Transfer.objects.filter(kind=TransferKind.ADJUSTMENT)
    assert adjustments.count() == 3
    assert set(adjustments.values_list("actor_id", flat=True)) == {staff.pk}


def test_a_resubmitted_adjustment_form_pays_once(admin_client, alice):
    for _ in range(2):
        adjust(admin_client, [wallet_of(alice)], amount="10", reason="bonus", token="same")
    assert wallet_of(alice).balance == 110
    assert Transfer.objects.filter(kind=TransferKind.ADJUSTMENT).count() == 1


def test_an_adjustment_below_zero_is_refused_with_a_message(admin_client, alice):
    response = adjust(
        admin_client, [wallet_of(alice)], amount="-500", reason="too much", token="t3"
    )
    assert response.status_code == 302
    page = admin_client.get(response.url).content.decode()
    assert "available" in page
    assert wallet_of(alice).balance == 100


def test_a_zero_adjustment_is_a_form_error(admin_client, alice):
    response = adjust(admin_client, [wallet_of(alice)], amount="0", reason="x", token="t4")
    assert response.status_code == 200
    assert b"changes nothing" in response.content


def test_the_reverse_action_reverses_once_as_the_staff_user(admin_client, staff, alice):
    original = award(alice, 40, reason="quiz", idempotency_key="quiz-1")
    data = {
        "action": "reverse_transfers",
        "_selected_action": [original.pk],
        "apply": "1",
        "reason": "wrong answer",
    }
    admin_client.post("/admin/ledger/transfer/", data)
    admin_client.post("/admin/ledger/transfer/", data)
    reversal = Transfer.objects.get(reverses=original)
    assert reversal.actor_id == staff.pk
    assert wallet_of(alice).balance == 100


def test_ledger_rows_cannot_be_edited_or_deleted_in_admin(admin_client, alice):
    transfer = Transfer.objects.filter(kind=TransferKind.BONUS).first()
    page = admin_client.get(f"/admin/ledger/transfer/{transfer.pk}/change/").content
    assert b'name="_save"' not in page
    assert admin_client.get(f"/admin/ledger/transfer/{transfer.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/ledger/account/add/").status_code == 403

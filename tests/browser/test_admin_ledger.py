"""A staff member adjusts a wallet from the admin, in a real browser."""

from __future__ import annotations

import pytest

from ledger.models import Account, Transfer, TransferKind
from tests.browser.test_admin_members import log_in
from tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_adjusts_a_wallet_and_sees_the_new_balance(page, live_server, django_user_model):
    member = MemberFactory(platform="web", external_id="streamer-1", username="Streamer")
    wallet = Account.objects.get(member=member, currency__code="points")
    log_in(page, live_server, django_user_model)
    page.goto(f"{live_server.url}/admin/ledger/account/?q=Streamer")
    page.check(f"input[name=_selected_action][value='{wallet.pk}']")
    page.select_option("select[name=action]", "adjust_balance")
    page.click("button[name=index]")
    page.fill("#id_amount", "-40")
    page.fill("#id_reason", "Refund of a mistaken bonus")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist .info, .messagelist .success")
    assert "Adjusted 1 wallet" in page.content()
    wallet.refresh_from_db()
    assert wallet.balance == 60
    adjustment = Transfer.objects.get(kind=TransferKind.ADJUSTMENT)
    assert adjustment.reason == "Refund of a mistaken bonus"
    assert page.locator("#result_list").inner_text().count("60") >= 1

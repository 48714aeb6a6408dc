"""The member page's controls: a Treasurer awards, deducts and reverses (a double submit
pays once), grants achievements; a Moderator starts and cancels subscriptions; each is
refused (403, nothing written) for a Viewer, and a refusal is explained in place (422)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Subscription
from ledger import actions as ledger
from ledger.models import Account, Achievement, Currency, MemberAchievement, Transfer
from tests.dashboard.test_roles import changed, make_user, snapshot
from tests.factories import TournamentFactory
from tournaments import actions as cup

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def client_as(role: str) -> Client:
    client = Client()
    client.force_login(make_user(role, prefix=f"m-{role.lower()}"))
    return client


@pytest.fixture
def treasurer():
    return client_as("Treasurer")


@pytest.fixture
def viewer():
    return client_as("Viewer")


@pytest.fixture
def moderator():
    return client_as("Moderator")


def balance(member, currency: str = "points") -> int:
    return Account.objects.get(member=member, currency__code=currency).balance


def adjust(client, member, direction: str, amount, token: str = "tok-123456", **extra):
    return client.post(
        f"/dashboard/members/{member.pk}/adjust",
        {
            "slot": "adjust",
            "token": token,
            "currency": "points",
            "amount": str(amount),
            "reason": "stream giveaway",
            "direction": direction,
            **extra,
        },
        **HX,
    )


def assert_refused(response, slot: str, message: str, status: int = 422) -> None:
    assert response.status_code == status, response.content
    assert response["HX-Retarget"] == f"#refusal-{slot}"
    assert message in response.content.decode()


def test_a_treasurer_awards_and_a_double_submit_pays_once(treasurer, alice):
    start = balance(alice)
    first = adjust(treasurer, alice, "award", 50, token="double-submit")
    assert first.status_code == 200
    assert f'data-amount="{start + 50}"' in first.content.decode()
    again = adjust(treasurer, alice, "award", 50, token="double-submit")
    assert again.status_code == 200
    assert balance(alice) == start + 50
    assert (
        Transfer.objects.filter(idempotency_key="admin-adjust:dashboard:double-submit").count() == 1
    )


def test_a_treasurer_deducts_and_a_deduction_past_the_balance_is_refused(treasurer, alice):
    start = balance(alice)
    assert adjust(treasurer, alice, "deduct", 30, token="deduct-1").status_code == 200
    assert balance(alice) == start - 30
    before = snapshot()
    assert_refused(adjust(treasurer, alice, "deduct", 10**9, token="deduct-2"), "adjust", "")
    assert_refused(adjust(treasurer, alice, "award", 0, token="deduct-3"), "adjust", "positive")
    assert_refused(adjust(treasurer, alice, "award", 5, token="x"), "adjust", "expired")
    assert_refused(
        adjust(treasurer, alice, "award", 5, token="deduct-4", reason=""), "adjust", "reason"
    )
    assert changed(before, snapshot()) == []


def test_a_treasurer_reverses_a_transfer_once(treasurer, alice):
    start = balance(alice)
    paid = ledger.award(alice, 70, reason="oops", idempotency_key="reverse-me")
    path = f"/dashboard/members/{alice.pk}/transfers/{paid.pk}/reverse"
    page = treasurer.get(f"/dashboard/members/{alice.pk}/").content.decode()
    assert path in page
    response = treasurer.post(path, {"slot": f"reverse-{paid.pk}", "reason": "paid twice"}, **HX)
    assert response.status_code == 200
    assert path not in response.content.decode()  # no second Reverse button: "reversed"
    assert balance(alice) == start
    assert Transfer.objects.filter(reverses=paid).count() == 1
    before = snapshot()
    again = treasurer.post(path, {"slot": f"reverse-{paid.pk}", "reason": "again"}, **HX)
    assert_refused(again, f"reverse-{paid.pk}", "")
    assert changed(before, snapshot()) == []


def test_a_treasurer_grants_an_achievement_with_its_reward(treasurer, alice):
    Achievement.objects.create(
        code="mvp",
        name="MVP",
        rule="granted",
        reward_amount=25,
        reward_currency=Currency.objects.get(code="points"),
    )
    start = balance(alice)
    response = treasurer.post(
        f"/dashboard/members/{alice.pk}/grant", {"slot": "grant", "achievement": "mvp"}, **HX
    )
    assert response.status_code == 200
    assert MemberAchievement.objects.filter(member=alice, achievement__code="mvp").exists()
    assert balance(alice) == start + 25
    assert_refused(
        treasurer.post(f"/dashboard/members/{alice.pk}/grant", {"slot": "grant"}, **HX),
        "grant",
        "Choose an achievement",
    )


def test_a_moderator_starts_and_cancels_a_subscription(moderator, treasurer, alice):
    path = f"/dashboard/members/{alice.pk}/subscribe"
    assert_refused(
        treasurer.post(path, {"slot": "subscription", "tier": "premium"}, **HX),
        "subscription",
        "accounts.manage_subscription",
        status=403,
    )
    assert (
        moderator.post(path, {"slot": "subscription", "tier": "premium"}, **HX).status_code == 200
    )
    subscription = Subscription.objects.get(member=alice, status="active")
    before = snapshot()
    assert_refused(
        moderator.post(path, {"slot": "subscription", "tier": "premium"}, **HX),
        "subscription",
        "already has an active subscription",
    )
    assert changed(before, snapshot()) == []
    cancel = f"/dashboard/members/{alice.pk}/subscriptions/{subscription.pk}/cancel"
    assert moderator.post(cancel, {"slot": "subscription"}, **HX).status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == "cancelled"


def test_a_moderator_edits_the_profile_and_an_unknown_archetype_is_refused(
    moderator, treasurer, alice
):
    from events.models import Event

    path = f"/dashboard/members/{alice.pk}/profile"
    form = {"slot": "profile", "archetype": "explorer", "onboarding_completed": "on"}
    assert_refused(
        treasurer.post(path, form, **HX), "profile", "accounts.change_member", status=403
    )
    page = moderator.post(path, form, **HX)
    assert page.status_code == 200
    alice.profile.refresh_from_db()
    assert alice.profile.archetype == "explorer"
    assert alice.profile.onboarding_completed
    assert Event.objects.filter(kind="member.profile_updated", data__member_id=alice.pk).exists()
    assert 'value="explorer" selected' in page.content.decode()
    before = snapshot()
    refused = moderator.post(path, {**form, "archetype": "wizard"}, **HX)
    assert_refused(refused, "profile", "wizard")
    assert changed(before, snapshot()) == []


def test_every_member_control_refuses_a_viewer_and_writes_nothing(viewer, alice):
    paid = ledger.award(alice, 70, reason="kept", idempotency_key="viewer-keeps")
    Achievement.objects.create(code="kept", name="Kept", rule="granted")
    page = viewer.get(f"/dashboard/members/{alice.pk}/").content.decode()
    assert "hx-post" not in page
    assert "Open in admin" not in page
    before = snapshot()
    base = f"/dashboard/members/{alice.pk}"
    for path, data in [
        (f"{base}/adjust", {"amount": "5", "direction": "award", "token": "viewer-token"}),
        (f"{base}/transfers/{paid.pk}/reverse", {"reason": "no"}),
        (f"{base}/grant", {"achievement": "kept"}),
        (f"{base}/subscribe", {"tier": "premium"}),
        (f"{base}/profile", {"archetype": "explorer"}),
    ]:
        response = viewer.post(path, {"slot": "adjust", "reason": "r", **data}, **HX)
        assert_refused(response, "adjust", "Not allowed", status=403)
    assert changed(before, snapshot()) == []


def test_the_member_page_lists_tournaments_played_and_links_to_the_admin(treasurer, alice):
    tournament = TournamentFactory(name="Played Cup", entry_fee=0)
    cup.register(tournament, alice)
    page = treasurer.get(f"/dashboard/members/{alice.pk}/").content.decode()
    assert "Played Cup" in page
    assert f'href="/dashboard/tournaments/{tournament.pk}/"' in page
    assert f'href="/admin/accounts/member/{alice.pk}/change/"' in page
    assert "Award" in page
    assert "Deduct" in page


def test_the_admin_change_page_links_to_the_dashboard(admin_client, alice):
    page = admin_client.get(f"/admin/accounts/member/{alice.pk}/change/").content.decode()
    assert f"/dashboard/members/{alice.pk}/" in page


def test_an_owner_erases_a_member_from_the_member_page(alice):
    owner = client_as("Owner")
    page = owner.get(f"/dashboard/members/{alice.pk}/").content.decode()
    assert "Erase personal data" in page
    assert "cannot be undone" in page
    erased = owner.post(
        f"/dashboard/members/{alice.pk}/erase", {"slot": "erase", "reason": "request #7"}, **HX
    )
    assert erased.status_code == 200
    body = erased.content.decode()
    assert f"erased:{alice.pk}" in body
    assert "Personal data erased" in body
    assert "Alice.Liddell" not in body
    assert f'hx-post="/dashboard/members/{alice.pk}/erase"' not in body


@pytest.mark.parametrize(
    ("reason", "said"), [("  ", "needs a reason"), ("again", "was erased already")]
)
def test_a_refused_erasure_is_explained_in_place_and_writes_nothing(alice, reason, said):
    owner = client_as("Owner")
    url = f"/dashboard/members/{alice.pk}/erase"
    if said == "was erased already":
        owner.post(url, {"slot": "erase", "reason": "first"}, **HX)
    before = snapshot()
    refused = owner.post(url, {"slot": "erase", "reason": reason}, **HX)
    assert refused.status_code == 422
    assert said in refused.content.decode()
    assert refused["HX-Retarget"] == "#refusal-erase"
    assert changed(before, snapshot()) == []


def test_a_treasurer_sees_no_erase_control_and_a_forged_post_is_refused(alice, treasurer):
    assert (
        "Erase personal data"
        not in treasurer.get(f"/dashboard/members/{alice.pk}/").content.decode()
    )
    before = snapshot()
    forged = treasurer.post(
        f"/dashboard/members/{alice.pk}/erase", {"slot": "erase", "reason": "x"}, **HX
    )
    assert forged.status_code == 403
    assert changed(before, snapshot()) == []

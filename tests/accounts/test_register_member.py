from __future__ import annotations

import pytest

from accounts import actions
from accounts.actions import register_member
from accounts.actions import registration as registration_module
from accounts.exceptions import (
    AccountsError,
    EmailAlreadyRegistered,
    IdentityAlreadyLinked,
    InvalidEmail,
    InvalidIdentity,
    SubscriptionAlreadyActive,
    UnknownReferralCode,
)
from accounts.models import REFERRAL_ALPHABET, Identity, Member, Profile
from events.models import Event
from tests.helpers import table_contents

pytestmark = pytest.mark.django_db


def test_register_member_creates_member_identity_profile_and_event(
    django_capture_on_commit_callbacks, staff
):
    with django_capture_on_commit_callbacks(execute=True):
        registration = register_member(
            platform="telegram",
            external_id=42,
            username=" carol ",
            email=" Carol.X+bot@gmail.com ",
            actor=staff,
        )
    member = registration.member
    assert registration.created is True
    assert member.display_name == "carol"
    assert member.email == "Carol.X+bot@gmail.com"
    assert member.email_normalized == "carolx@gmail.com"
    assert len(member.referral_code) == 8
    assert set(member.referral_code) <= set(REFERRAL_ALPHABET)
    identity = Identity.objects.get(member=member)
    assert (identity.platform, identity.external_id, identity.username) == (
        "telegram",
        "42",
        "carol",
    )
    assert Profile.objects.filter(member=member).count() == 1
    # Registration opens the wallets and pays the welcome bonus after announcing the member.
    assert list(Event.objects.values_list("kind", flat=True)) == [
        "member.registered",
        "ledger.transfer_posted",
    ]
    event = Event.objects.get(kind="member.registered")
    assert event.subject == f"member:{member.pk}"
    assert event.actor_id == staff.pk
    assert event.data["member_id"] == member.pk
    assert event.data["external_id"] == "42"
    # Published (broadcast, then marked) after commit: tests/events proves that with a
    # real commit; inside this test's transaction the publisher thread cannot see the row.


def test_returned_member_is_exactly_the_row_written_with_the_models_defaults(db):
    member = register_member(platform="web", external_id="w-1", username="Wen").member
    stored = Member.objects.get(pk=member.pk)
    fields = [f.attname for f in Member._meta.concrete_fields]
    assert {f: getattr(member, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert (stored.language, stored.is_premium, stored.is_active) == ("en", False, True)
    assert stored.last_active_at == stored.created_at
    assert stored.created_at == stored.last_active_at
    profile = Profile.objects.get(member=member)
    assert (profile.archetype, profile.preferences) == ("", {})
    assert (profile.welcomed, profile.onboarding_completed, profile.tutorial_completed) == (
        False,
        False,
        False,
    )
    assert profile.updated_at == stored.created_at
    identity = Identity.objects.get(member=member)
    assert identity.created_at == stored.created_at
    assert member._state.adding is False


def test_same_identity_again_returns_existing_member_and_writes_nothing(alice):
    before = table_contents()
    again = register_member(platform="telegram", external_id="1001", email="other@example.org")
    assert again == (alice, False)
    assert table_contents() == before


@pytest.mark.parametrize(
    "other_arguments",
    [{"referral_code": "NOSUCH22"}, {"email": "not an email"}, {"username": "x\x00"}],
)
def test_known_identity_is_answered_before_the_other_arguments_are_judged(alice, other_arguments):
    before = table_contents()
    assert register_member(platform="telegram", external_id="1001", **other_arguments) == (
        alice,
        False,
    )
    assert table_contents() == before


@pytest.mark.parametrize(
    "variant",
    ["alice.liddell@gmail.com", "ALICELIDDELL+promo@googlemail.com", " a.liceliddell@GMAIL.COM"],
)
def test_email_of_another_member_is_refused_and_nothing_written(alice, variant):
    before = table_contents()
    with pytest.raises(EmailAlreadyRegistered) as raised:
        register_member(platform="discord", external_id="5001", email=variant)
    assert raised.value.normalized == "aliceliddell@gmail.com"
    assert table_contents() == before


def test_custom_domain_dots_are_different_members(db):
    first = register_member(platform="web", external_id="a", email="first.last@example.org")
    second = register_member(platform="web", external_id="b", email="firstlast@example.org")
    assert first.member != second.member


def test_unknown_referral_code_is_refused_and_nothing_written(alice):
    before = table_contents()
    with pytest.raises(UnknownReferralCode):
        register_member(platform="discord", external_id="5002", referral_code="ZZZZZZZZ")
    assert table_contents() == before


def test_referral_code_links_referrer_whatever_its_case(alice):
    registration = register_member(
        platform="discord", external_id="5002", referral_code=f" {alice.referral_code.lower()} "
    )
    assert registration.member.referred_by == alice


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"platform": "myspace", "external_id": "1"}, InvalidIdentity),
        ({"platform": "telegram", "external_id": ""}, InvalidIdentity),
        ({"platform": "telegram", "external_id": "   "}, InvalidIdentity),
        ({"platform": "telegram", "external_id": None}, InvalidIdentity),
        ({"platform": "telegram", "external_id": "x" * 65}, InvalidIdentity),
        ({"platform": "telegram", "external_id": "1", "email": "not-an-email"}, InvalidEmail),
        ({"platform": "telegram", "external_id": "nul\x00byte"}, InvalidIdentity),
        ({"platform": "telegram", "external_id": "1", "username": "bell\x07"}, InvalidIdentity),
        (
            {
                "platform": "telegram",
                "external_id": "1",
                "email": "a" * 60 + "@" + "b" * 190 + ".org.",
            },
            InvalidEmail,
        ),
    ],
)
def test_bad_input_raises_a_named_error_and_writes_nothing(kwargs, error, alice):
    before = table_contents()
    with pytest.raises(error):
        register_member(**kwargs)
    assert table_contents() == before


def test_referral_code_collision_draws_a_new_code_inside_a_savepoint(alice, monkeypatch):
    codes = iter([alice.referral_code, alice.referral_code, "NEWC0DE2".replace("0", "9")])
    monkeypatch.setattr(registration_module, "new_referral_code", lambda: next(codes))
    registration = register_member(platform="web", external_id="collide", email="c@example.org")
    assert registration.member.referral_code == "NEWC9DE2"
    assert Member.objects.count() == 2


def test_referral_code_that_keeps_colliding_gives_up_with_a_clear_error(alice, monkeypatch):
    monkeypatch.setattr(registration_module, "new_referral_code", lambda: alice.referral_code)
    before = table_contents()
    with pytest.raises(AccountsError, match="unused referral code"):
        register_member(platform="web", external_id="collide")
    assert table_contents() == before


def test_update_member_changes_fields_and_publishes_what_changed(
    alice, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        updated = actions.update_member(
            alice, display_name="Alice L.", email="alice@example.org", actor=staff
        )
    assert updated.email_normalized == "alice@example.org"
    event = Event.objects.filter(kind="member.updated").get()
    assert event.data["changed"] == {"display_name": "Alice L.", "email": "alice@example.org"}
    assert event.actor_id == staff.pk


def test_update_member_refuses_another_members_email_and_writes_nothing(alice, bob):
    before = table_contents()
    with pytest.raises(EmailAlreadyRegistered):
        actions.update_member(bob, email="ALICE.LIDDELL@googlemail.com")
    assert table_contents() == before
    bob.refresh_from_db()
    assert bob.email == ""


def test_update_member_without_change_publishes_nothing(alice):
    before = table_contents()
    actions.update_member(alice, display_name=alice.display_name)
    assert table_contents() == before


def test_update_member_refuses_fields_it_does_not_own(alice):
    with pytest.raises(AccountsError, match="referral_code"):
        actions.update_member(alice, referral_code="AAAAAAAA")


def test_link_identity_adds_a_platform_and_is_idempotent(alice, bob):
    identity = actions.link_identity(alice, platform="discord", external_id="4001", username="al")
    assert actions.link_identity(alice, platform="discord", external_id="4001") == identity
    assert alice.identities.count() == 2
    assert Member.objects.by_identity("discord", "4001") == alice
    with pytest.raises(IdentityAlreadyLinked):
        actions.link_identity(bob, platform="discord", external_id="4001")


def test_one_active_subscription_at_a_time(alice):
    first = actions.start_subscription(alice, tier="premium")
    before = table_contents()
    with pytest.raises(SubscriptionAlreadyActive):
        actions.start_subscription(alice, tier="basic")
    assert table_contents() == before
    actions.cancel_subscription(first)
    second = actions.start_subscription(alice, tier="professional")
    assert alice.subscriptions.filter(status="active").get() == second


def test_subscription_must_expire_after_it_starts(alice):
    from django.utils import timezone

    from accounts.exceptions import InvalidSubscription

    now = timezone.now()
    with pytest.raises(InvalidSubscription):
        actions.start_subscription(alice, tier="basic", starts_at=now, expires_at=now)
    with pytest.raises(InvalidSubscription):
        actions.start_subscription(alice, tier="gold")

"""Every accounts rule the database holds, proven with raw SQL that skips the ORM."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from accounts.actions import cancel_subscription, register_member, start_subscription
from accounts.models import Member
from ledger.models import Currency
from tests.factories import MemberFactory
from tests.helpers import refused, sql

pytestmark = pytest.mark.django_db


def test_identity_is_unique_per_platform_and_external_id(alice, bob):
    refused(
        "UPDATE accounts_identity SET platform = 'telegram', external_id = '1001' "
        "WHERE member_id = %s",
        [bob.pk],
        constraint="accounts_identity_platform_external_id_unique",
        unique=True,
    )


def test_identity_platform_must_be_known(alice):
    refused(
        "UPDATE accounts_identity SET platform = 'myspace' WHERE member_id = %s",
        [alice.pk],
        constraint="accounts_identity_platform_valid",
    )


def test_identity_external_id_cannot_be_blank(alice):
    refused(
        "UPDATE accounts_identity SET external_id = '' WHERE member_id = %s",
        [alice.pk],
        constraint="accounts_identity_external_id_not_blank",
    )


@pytest.mark.parametrize("external_id", [" 1001", "1001 ", " padded "])
def test_identity_external_id_is_stored_trimmed(alice, external_id):
    refused(
        "UPDATE accounts_identity SET external_id = %s WHERE member_id = %s",
        [external_id, alice.pk],
        constraint="accounts_identity_external_id_trimmed",
    )


def test_normalized_email_is_unique(alice, bob):
    refused(
        "UPDATE accounts_member SET email = 'x@gmail.com', email_normalized = %s WHERE id = %s",
        [alice.email_normalized, bob.pk],
        constraint="accounts_member_email_normalized_unique",
        unique=True,
    )


def test_members_without_email_do_not_collide(db):
    register_member(platform="web", external_id="1")
    register_member(platform="web", external_id="2")
    assert Member.objects.filter(email_normalized__isnull=True).count() == 2


def test_email_and_normalized_email_are_present_together(alice, bob):
    refused(
        "UPDATE accounts_member SET email_normalized = NULL WHERE id = %s",
        [alice.pk],
        constraint="accounts_member_email_normalized_present",
    )
    refused(
        "UPDATE accounts_member SET email_normalized = 'b@example.org' WHERE id = %s",
        [bob.pk],
        constraint="accounts_member_email_normalized_present",
    )


def test_referral_codes_are_unique(alice, bob):
    refused(
        "UPDATE accounts_member SET referral_code = %s WHERE id = %s",
        [alice.referral_code, bob.pk],
        constraint="accounts_member_referral_code_key",
        unique=True,
    )


@pytest.mark.parametrize(
    "code", ["SHORT", "ABCDEFG", "abcdefgh", "OOOOOOOO", "1234567I", "ABCD-EFG"]
)
def test_referral_code_has_the_generated_shape(alice, code):
    refused(
        "UPDATE accounts_member SET referral_code = %s WHERE id = %s",
        [code, alice.pk],
        constraint="accounts_member_referral_code_format",
    )


def test_member_cannot_refer_themselves(alice):
    refused(
        "UPDATE accounts_member SET referred_by_id = id WHERE id = %s",
        [alice.pk],
        constraint="accounts_member_no_self_referral",
    )


def test_member_has_at_most_one_profile(alice):
    refused(
        "INSERT INTO accounts_profile (member_id, archetype, preferences, personality,"
        " welcomed, onboarding_completed, tutorial_completed, updated_at)"
        " VALUES (%s, '', '{}', '{}', false, false, false, CURRENT_TIMESTAMP)",
        [alice.pk],
        constraint="accounts_profile_member_id_key",
        unique=True,
    )


def test_profile_archetype_must_be_known(alice):
    refused(
        "UPDATE accounts_profile SET archetype = 'griefer' WHERE member_id = %s",
        [alice.pk],
        constraint="accounts_profile_archetype_valid",
    )


def test_at_most_one_active_subscription(alice):
    start_subscription(alice, tier="basic")
    refused(
        "INSERT INTO accounts_subscription (member_id, tier, status, starts_at, created_at)"
        " VALUES (%s, 'premium', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        [alice.pk],
        constraint="accounts_subscription_one_active_per_member",
        unique=True,
    )
    # Ended ones may accumulate.
    for tier in ("premium", "professional"):
        cancel_subscription(alice.subscriptions.get(status="active"))
        start_subscription(alice, tier=tier)
    assert alice.subscriptions.filter(status="cancelled").count() == 2


def test_subscription_expires_after_it_starts(alice):
    sub = start_subscription(alice, tier="basic")
    refused(
        "UPDATE accounts_subscription SET expires_at = starts_at WHERE id = %s",
        [sub.pk],
        constraint="accounts_subscription_expires_after_start",
    )


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("tier", "gold", "accounts_subscription_tier_valid"),
        ("status", "paused", "accounts_subscription_status_valid"),
    ],
)
def test_subscription_tier_and_status_must_be_known(alice, column, value, constraint):
    sub = start_subscription(alice, tier="basic")
    ended = ", ended_at = CURRENT_TIMESTAMP" if column == "status" else ""
    refused(
        f"UPDATE accounts_subscription SET {column} = %s{ended} WHERE id = %s",
        [value, sub.pk],
        constraint=constraint,
        checks_only=True,  # PostgreSQL's transition trigger refuses both first
    )


# --- Cross-row rules: PostgreSQL triggers -----------------------------------------------


@pytest.mark.postgres
def test_member_cannot_commit_without_profile_and_identity(db):
    refused(
        "INSERT INTO accounts_member (display_name, language, is_active,"
        " created_at, email, referral_code) VALUES"
        " ('ghost', 'en', true, CURRENT_TIMESTAMP, '', 'GHQSTABC')",
        constraint="has no profile",
    )


@pytest.mark.postgres
def test_member_with_profile_but_no_identity_is_refused(db):
    with pytest.raises(IntegrityError, match="has no identity"), transaction.atomic():
        sql(
            "INSERT INTO accounts_member (display_name, language, is_active,"
            " created_at, email, referral_code) VALUES"
            " ('ghost', 'en', true, CURRENT_TIMESTAMP, '', 'GHQSTABC')"
        )
        sql(
            "INSERT INTO accounts_profile (member_id, archetype, preferences, personality,"
            " welcomed, onboarding_completed, tutorial_completed, updated_at)"
            " SELECT id, '', '{}', '{}', false, false, false, CURRENT_TIMESTAMP"
            " FROM accounts_member WHERE referral_code = 'GHQSTABC'"
        )
        sql("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.postgres
def test_deleting_a_members_profile_is_refused(alice):
    refused(
        "DELETE FROM accounts_profile WHERE member_id = %s",
        [alice.pk],
        constraint="would be left without a profile",
    )


@pytest.mark.postgres
def test_deleting_a_members_last_identity_is_refused(alice, bob):
    refused(
        "DELETE FROM accounts_identity WHERE member_id = %s",
        [alice.pk],
        constraint="would be left without an identity",
    )
    refused(
        "UPDATE accounts_identity SET member_id = %s WHERE member_id = %s",
        [bob.pk, alice.pk],
        constraint="would be left without an identity",
    )


@pytest.mark.postgres
def test_deleting_one_of_two_identities_is_allowed(alice):
    from accounts.actions import link_identity

    link_identity(alice, platform="web", external_id="alice-web")
    with transaction.atomic():
        sql("DELETE FROM accounts_identity WHERE platform = 'web' AND member_id = %s", [alice.pk])
        sql("SET CONSTRAINTS ALL IMMEDIATE")
    assert alice.identities.count() == 1


@pytest.mark.postgres
def test_deleting_the_whole_member_is_allowed(db):
    # The keep-one triggers let member, identity and profile go together. (Only a member
    # with no ledger history: wallets and postings protect their member.)
    Currency.objects.update(opens_on_signup=False)
    carol = MemberFactory(platform="web", external_id="carol")
    with transaction.atomic():
        carol.delete()
        sql("SET CONSTRAINTS ALL IMMEDIATE")
    assert not Member.objects.filter(pk=carol.pk).exists()


def test_a_member_with_wallets_cannot_be_deleted(alice):
    with pytest.raises(ProtectedError):
        alice.delete()
    assert Member.objects.filter(pk=alice.pk).exists()

"""Telegram and Discord ids are the platform's numbers, so one account cannot become two
members ("042" and "42"); identities carry the platform's first and last name and is-bot."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from accounts import actions
from accounts.actions import register_member
from accounts.exceptions import InvalidExternalId, InvalidIdentity
from accounts.models import Identity
from tests.helpers import refused, refused_writing_nothing

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("platform", ["telegram", "discord"])
@pytest.mark.parametrize(
    "external_id", ["042", "0", "abc", "12a", "-5", "4.2e17", "1" * 21, "\uff14\uff12"]
)
def test_a_numeric_platform_refuses_an_id_that_is_not_its_number(platform, external_id):
    raised = refused_writing_nothing(
        InvalidExternalId, lambda: register_member(platform=platform, external_id=external_id)
    )
    assert isinstance(raised, InvalidIdentity)
    assert repr(external_id) in str(raised)


def test_042_never_becomes_a_second_member_for_42(alice):
    member = register_member(platform="discord", external_id=42).member
    assert register_member(platform="discord", external_id=" 42 ").member == member
    with pytest.raises(InvalidExternalId):
        register_member(platform="discord", external_id="042")
    with pytest.raises(InvalidExternalId):
        actions.link_identity(alice, platform="discord", external_id="042")
    assert Identity.objects.filter(platform="discord").count() == 1


def test_web_ids_stay_free_text(db):
    assert register_member(platform="web", external_id="042").created
    assert register_member(platform="web", external_id="user@site").created


def test_an_identity_stores_first_and_last_name_and_is_bot(alice):
    member = register_member(
        platform="telegram",
        external_id="7001",
        first_name=" Ada ",
        last_name="Lovelace",
        is_bot=True,
    ).member
    identity = member.identities.get()
    assert (identity.first_name, identity.last_name, identity.is_bot) == ("Ada", "Lovelace", True)
    linked = actions.link_identity(
        alice, platform="discord", external_id="7002", first_name="Alice", last_name="L"
    )
    assert (linked.first_name, linked.last_name, linked.is_bot) == ("Alice", "L", False)
    plain = register_member(platform="web", external_id="w-plain").member.identities.get()
    assert (plain.first_name, plain.last_name, plain.is_bot) == ("", "", False)


def test_a_name_with_a_format_character_is_refused(db):
    refused_writing_nothing(
        InvalidIdentity,
        lambda: register_member(platform="telegram", external_id="7003", first_name="a\u202eb"),
    )


@pytest.mark.parametrize("external_id", ["042", "abc", "", "1" * 21])
def test_the_database_holds_numeric_ids_for_telegram_and_discord(alice, bob, external_id):
    # "" breaks accounts_identity_external_id_not_blank as well: either may be named.
    constraint = "accounts_identity_numeric_external_id" if external_id else ""
    for member in (alice, bob):  # alice on Telegram, bob on Discord
        refused(
            "UPDATE accounts_identity SET external_id = %s WHERE member_id = %s",
            [external_id, member.pk],
            constraint=constraint,
        )


def test_a_web_identity_may_hold_any_id(db):
    member = register_member(platform="web", external_id="w-1").member
    Identity.objects.filter(member=member).update(external_id="042")


def test_the_database_holds_printable_names(alice):
    for column in ("first_name", "last_name"):
        refused(
            f"UPDATE accounts_identity SET {column} = %s WHERE member_id = %s",
            ["a\u202eb", alice.pk],
            constraint="accounts_identity_names_printable",
        )


# --- existing rows: the migration ----------------------------------------------------------


def _migration():
    return importlib.import_module("accounts.migrations.0008_existing_rows")


def test_the_migration_fixes_leading_zeros_and_demo_ids_and_stops_on_the_rest(bypass, alice, bob):
    carol = register_member(platform="telegram", external_id="3003").member
    bypass.lift("accounts_identity", "accounts_identity_numeric_external_id")
    bypass.sql("UPDATE accounts_identity SET external_id = '0042' WHERE member_id = %s", [alice.pk])
    bypass.sql("UPDATE accounts_identity SET external_id = 'demo-7' WHERE member_id = %s", [bob.pk])
    _migration().numeric_ids(apps, None)
    assert alice.identities.get().external_id == "42"
    assert bob.identities.get().external_id == str(990_000_000_007)
    bypass.sql("UPDATE accounts_identity SET external_id = 'abc' WHERE member_id = %s", [carol.pk])
    with pytest.raises(RuntimeError, match=f"telegram:abc \\(member {carol.pk}\\)"):
        _migration().numeric_ids(apps, None)

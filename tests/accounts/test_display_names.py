"""Display names and usernames: what a member is called on every screen and stream.

A default display name never contains an external id (it is what overlays show), and
names refuse the characters that render as nothing or reorder the text around them
(Unicode format characters: bidi overrides, zero-width spaces) as they refuse control
characters: in the actions, with a clear error and nothing written, and in the database.
"""

from __future__ import annotations

import importlib
import re
import unicodedata

import pytest
from django.db import connection

from accounts import actions
from accounts.actions import register_member
from accounts.exceptions import AccountsError, InvalidDisplayName, InvalidIdentity
from accounts.integrity import display_name_without_external_id
from accounts.models import HIDDEN_CHARACTERS_PATTERN, REFERRAL_ALPHABET, Identity, Member
from events.models import Event
from tests.helpers import refused, sql, table_contents

pytestmark = pytest.mark.django_db

TELEGRAM_ID = "7770001796535308"
NEUTRAL = re.compile(rf"Member [{REFERRAL_ALPHABET}]{{4}}")

# What the probe used, and the rest of the families named in it.
SPOOFING = {
    "U+202E RIGHT-TO-LEFT OVERRIDE": "\u202e",
    "U+200B ZERO WIDTH SPACE": "\u200b",
    "U+200F RIGHT-TO-LEFT MARK": "\u200f",
    "U+2066 LEFT-TO-RIGHT ISOLATE": "\u2066",
    "U+2060 WORD JOINER": "\u2060",
    "U+FEFF ZERO WIDTH NO-BREAK SPACE": "\ufeff",
    "U+00AD SOFT HYPHEN": "\u00ad",
    "U+E0041 TAG LATIN CAPITAL LETTER A": "\U000e0041",
    "U+2028 LINE SEPARATOR": "\u2028",
    "U+001B ESCAPE": "\x1b",
}


# --- the default display name ---------------------------------------------------------


def test_a_member_registered_without_username_gets_a_neutral_name_without_the_external_id(db):
    member = register_member(platform="telegram", external_id=TELEGRAM_ID).member
    assert TELEGRAM_ID not in member.display_name
    assert "telegram" not in member.display_name.lower()
    assert NEUTRAL.fullmatch(member.display_name), member.display_name
    assert Member.objects.get(pk=member.pk).display_name == member.display_name
    event = Event.objects.get(kind="member.registered")
    assert event.data["display_name"] == member.display_name


def test_a_username_that_contains_the_external_id_is_not_used_as_the_name(db):
    member = register_member(
        platform="telegram", external_id=TELEGRAM_ID, username=f"user{TELEGRAM_ID}"
    ).member
    assert TELEGRAM_ID not in member.display_name
    assert NEUTRAL.fullmatch(member.display_name)
    # The username itself is kept on the identity (staff with PII access see it).
    assert Identity.objects.get(member=member).username == f"user{TELEGRAM_ID}"


def test_a_username_is_still_the_default_name(db):
    member = register_member(platform="telegram", external_id=TELEGRAM_ID, username="carol").member
    assert member.display_name == "carol"


# --- format and control characters ----------------------------------------------------


@pytest.mark.parametrize("name", SPOOFING, ids=list(SPOOFING))
def test_a_username_with_a_format_character_is_refused_and_nothing_written(db, name):
    before = table_contents()
    with pytest.raises(InvalidIdentity, match=re.escape(name.split(" ")[0])):
        register_member(platform="telegram", external_id="55501", username=f"adm{SPOOFING[name]}in")
    assert table_contents() == before


@pytest.mark.parametrize("name", SPOOFING, ids=list(SPOOFING))
def test_a_display_name_with_a_format_character_is_refused_and_nothing_written(alice, name):
    before = table_contents()
    with pytest.raises(InvalidDisplayName, match=re.escape(name.split(" ")[0])) as raised:
        actions.update_member(alice, display_name=f"alice{SPOOFING[name]}gpj.exe")
    assert isinstance(raised.value, AccountsError)
    assert table_contents() == before


def test_linking_an_identity_with_a_format_character_in_its_username_is_refused(alice):
    before = table_contents()
    with pytest.raises(InvalidIdentity, match="U\\+202E"):
        actions.link_identity(alice, platform="discord", external_id="77", username="a\u202eb")
    assert table_contents() == before


def test_a_display_name_containing_an_external_id_of_the_member_is_refused(alice):
    actions.link_identity(alice, platform="discord", external_id="123456789012345678")
    before = table_contents()
    with pytest.raises(InvalidDisplayName, match="external id"):
        actions.update_member(alice, display_name="discord:123456789012345678")
    assert table_contents() == before


@pytest.mark.parametrize("name", ["Zoë 李 🎉", "Ирина", "محمد", "O'Brien-Smith", "ab cd"])
def test_ordinary_names_in_any_script_are_accepted(alice, name):
    assert actions.update_member(alice, display_name=name).display_name == name
    register_member(platform="web", external_id=f"w-{len(name)}-{ord(name[0])}", username=name)


def test_the_pattern_covers_every_control_format_and_separator_character():
    """The pattern is a fixed list (a migration holds it); a Python whose Unicode data
    knows a new format character fails here: add it to the list and migrate."""
    hidden = re.compile(HIDDEN_CHARACTERS_PATTERN)
    for code in range(0x110000):
        char = chr(code)
        category = unicodedata.category(char)
        if category in {"Cc", "Cf", "Zl", "Zp"}:
            assert hidden.search(char), f"U+{code:04X} ({category}) is not refused"
        elif category[0] in "LNPS" or char == " ":
            assert not hidden.search(char), f"U+{code:04X} ({category}) is refused"


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\ufeff", "\U000e0041", "\n"])
def test_the_database_refuses_a_display_name_with_a_format_character(alice, char):
    refused(
        "UPDATE accounts_member SET display_name = %s WHERE id = %s",
        [f"alice{char}", alice.pk],
        constraint="accounts_member_display_name_printable",
    )


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u00ad", "\x07"])
def test_the_database_refuses_a_username_with_a_format_character(alice, char):
    refused(
        "UPDATE accounts_identity SET username = %s WHERE member_id = %s",
        [f"alice{char}", alice.pk],
        constraint="accounts_identity_username_printable",
    )


def test_the_database_accepts_names_in_any_script(alice):
    sql("UPDATE accounts_member SET display_name = %s WHERE id = %s", ["Zoë 李 🎉", alice.pk])
    sql("UPDATE accounts_identity SET username = %s WHERE member_id = %s", ["Ирина", alice.pk])


# --- existing rows: the integrity check and the migration -----------------------------


def test_the_integrity_check_finds_a_display_name_containing_an_external_id(db):
    named = register_member(platform="telegram", external_id=TELEGRAM_ID, username="x").member
    short = register_member(platform="web", external_id="1001", username="Agent 1001").member
    register_member(platform="discord", external_id="2002000", username="dee")
    assert display_name_without_external_id().count == 0
    sql(
        "UPDATE accounts_member SET display_name = %s WHERE id = %s",
        [f"telegram:{TELEGRAM_ID}", named.pk],
    )
    found = display_name_without_external_id()
    assert (found.count, found.sample) == (1, [named.pk])
    # Ids shorter than 5 characters turn up in ordinary names by chance: not reported.
    assert Member.objects.get(pk=short.pk).display_name == "Agent 1001"


def _migration():
    return importlib.import_module("accounts.migrations.0006_display_names_printable")


def test_the_migration_renames_members_named_after_an_identity(db):
    from django.apps import apps

    named = register_member(platform="telegram", external_id=TELEGRAM_ID).member
    chosen = register_member(platform="discord", external_id="3003003", username="dora").member
    sql(
        "UPDATE accounts_member SET display_name = %s WHERE id = %s",
        [f"telegram:{TELEGRAM_ID}", named.pk],
    )
    _migration().rename_members_named_after_an_identity(apps, connection.schema_editor())
    named.refresh_from_db()
    chosen.refresh_from_db()
    assert NEUTRAL.fullmatch(named.display_name)
    assert chosen.display_name == "dora"
    assert display_name_without_external_id().count == 0


def test_the_migration_strips_format_characters_from_existing_names():
    printable = _migration().printable
    assert printable("ad\u202emin\u200b ") == "admin"
    assert printable("Zoë 李 🎉") == "Zoë 李 🎉"
    assert printable("\u200b\u200b") == ""  # the migration names such a member neutrally

from __future__ import annotations

import pytest

from accounts.emails import normalize_email
from accounts.exceptions import AccountsError, InvalidEmail


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        # Gmail: case, dots and +tags collapse; googlemail.com folds into gmail.com.
        ("Alice.Liddell@gmail.com", "aliceliddell@gmail.com"),
        ("a.l.i.c.e.liddell+rabbit@GMAIL.com", "aliceliddell@gmail.com"),
        ("ALICELIDDELL@googlemail.com", "aliceliddell@gmail.com"),
        ("alice.liddell+x+y@GoogleMail.COM", "aliceliddell@gmail.com"),
        # Whitespace around the address is not part of it.
        ("  bob@example.org\n", "bob@example.org"),
        # A custom domain keeps its dots and its +tag: they may be different mailboxes.
        ("First.Last@example.org", "first.last@example.org"),
        ("first.last+news@example.org", "first.last+news@example.org"),
        # Providers with sub-addressing drop the tag but keep dots.
        ("j.doe+shopping@outlook.com", "j.doe@outlook.com"),
        ("j.doe+a@icloud.com", "j.doe@icloud.com"),
        ("me+x@fastmail.com", "me@fastmail.com"),
        # IDNA: a Unicode domain becomes its ASCII (punycode) form, NFC first.
        ("user@Bücher.de", "user@xn--bcher-kva.de"),
        ("user@bu\u0308cher.de", "user@xn--bcher-kva.de"),
        ("Zoë@example.org", "zoë@example.org"),
        ("zoe\u0308@example.org", "zoë@example.org"),
        # A trailing root dot names the same domain.
        ("a@example.org.", "a@example.org"),
    ],
)
def test_normalize_email_collapses_what_reaches_the_same_mailbox(address, normalized):
    assert normalize_email(address) == normalized


@pytest.mark.parametrize(
    "address",
    [
        "",
        "   ",
        "no-at-sign",
        "@example.org",
        "someone@",
        "a@b",
        "a@localhost",
        "two@@example.org",
        "sp ace@example.org",
        ".lead@example.org",
        "trail.@example.org",
        "dou..ble@example.org",
        "+tag@gmail.com",
        "a@exa mple.org",
        "a@-bad-.org",
        "a@123.456",
        "x" * 65 + "@example.org",
        "a@" + "x" * 250 + ".org",
    ],
)
def test_normalize_email_refuses_what_is_not_an_address(address):
    with pytest.raises(InvalidEmail):
        normalize_email(address)


def test_invalid_email_is_an_accounts_error_and_a_value_error():
    with pytest.raises(AccountsError):
        normalize_email("nope")
    with pytest.raises(ValueError, match="not an email address"):
        normalize_email("nope")


def test_normalize_email_refuses_non_text():
    with pytest.raises(InvalidEmail):
        normalize_email(None)  # type: ignore[arg-type]

"""Email normalization: two addresses that reach the same mailbox normalize alike.

`normalize_email(address)` trims, applies Unicode NFC, lower-cases, encodes the domain
with IDNA (UTS #46), folds googlemail.com into gmail.com and there drops dots and a
`+tag`; for other providers known to deliver `user+tag` to `user` it drops the tag. Dots
are never dropped elsewhere: custom domains may treat them as significant.
"""

from __future__ import annotations

import re
import unicodedata

import idna

from accounts.exceptions import InvalidEmail

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

# Providers that deliver local+tag@domain to local@domain (sub-addressing).
PLUS_TAG_DOMAINS = frozenset(
    {
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "protonmail.com",
        "protonmail.ch",
        "proton.me",
        "pm.me",
        "yandex.ru",
        "yandex.com",
        "zoho.com",
        "hey.com",
    }
)

# Anything but whitespace, control characters and the specials that need quoting.
_LOCAL_PART = re.compile(r'^[^\s"(),:;<>@\[\\\]\x00-\x1f\x7f]+$')
MAX_LOCAL = 64
MAX_ADDRESS = 254


def normalize_email(address: str) -> str:
    if not isinstance(address, str):
        raise InvalidEmail(f"an email address must be text, not {type(address).__name__}")
    if len(address.strip()) > MAX_ADDRESS:
        raise InvalidEmail(f"{address[:40]!r}... is longer than {MAX_ADDRESS} characters")
    text = unicodedata.normalize("NFC", address.strip()).lower()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        raise InvalidEmail(f"{address!r} is not an email address (expected name@domain)")
    domain = _ascii_domain(domain, address)
    local = _check_local(local, address)

    if domain in GMAIL_DOMAINS:
        domain = "gmail.com"
        local = local.split("+", 1)[0].replace(".", "")
    elif domain in PLUS_TAG_DOMAINS:
        local = local.split("+", 1)[0]
    if not local:
        raise InvalidEmail(f"{address!r} has no mailbox name before its +tag")
    normalized = f"{local}@{domain}"
    if len(normalized) > MAX_ADDRESS:
        raise InvalidEmail(f"{address!r} is longer than {MAX_ADDRESS} characters")
    return normalized


def _ascii_domain(domain: str, address: str) -> str:
    domain = domain.removesuffix(".")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidEmail(f"{address!r} has an invalid domain: {exc}") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        raise InvalidEmail(f"{address!r} has no valid top-level domain")
    return ascii_domain


def _check_local(local: str, address: str) -> str:
    if len(local) > MAX_LOCAL:
        raise InvalidEmail(f"{address!r}: the part before @ is longer than {MAX_LOCAL} characters")
    if (
        not _LOCAL_PART.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise InvalidEmail(f"{address!r} has an invalid mailbox name")
    return local

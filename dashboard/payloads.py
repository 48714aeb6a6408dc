"""The data of the events the dashboard publishes (`overlay.*`), defined once.

Each kind is a `TypedDict` registered with `events.payloads.schema` and a builder;
`events.payloads` says why. Readers: the dashboard's feed and overlay pages, tests.
"""

from __future__ import annotations

from typing import TypedDict

from events.payloads import schema


@schema("overlay.token_created")
class TokenCreated(TypedDict):
    token_id: int
    scope: str
    label: str


def token_created(*, token_id: int, scope: str, label: str) -> TokenCreated:
    return {"token_id": token_id, "scope": scope, "label": label}


@schema("overlay.token_revoked")
class TokenRevoked(TypedDict):
    token_id: int
    scope: str


def token_revoked(*, token_id: int, scope: str) -> TokenRevoked:
    return {"token_id": token_id, "scope": scope}


@schema("members.exported")
class MembersExported(TypedDict):
    """The members list exported as CSV (`dashboard.actions.record_members_export`; who:
    the event's actor). The filter without its search text (which may be an email, a
    username or a platform id): whether there was one. No member data."""

    rows: int  # what the filter matched when the export began (at most CSV_MAX)
    pii: bool  # whether the email column was in it (accounts.view_member_pii)
    searched: bool
    platform: str  # "" or a platform
    premium: str  # "", "yes", "no"
    active: str  # "", or days
    sort: str
    currency: str


def members_exported(
    *,
    rows: int,
    pii: bool,
    searched: bool,
    platform: str,
    premium: str,
    active: str,
    sort: str,
    currency: str,
) -> MembersExported:
    return {
        "rows": rows,
        "pii": pii,
        "searched": searched,
        "platform": platform,
        "premium": premium,
        "active": active,
        "sort": sort,
        "currency": currency,
    }

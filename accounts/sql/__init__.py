"""Accounts' hand-written SQL, one statement or fragment a file (format: `config.sqlfiles`).

- `premium_subscriber.sql`: the rule "premium subscriber" for the statements other apps
  write by hand (`PREMIUM_SUBSCRIBER`), the same as `SubscriptionQuerySet.premium`;
  tests/accounts/test_premium.py holds the two to one answer on both backends.
- Registration, the hottest write in Concord: `register.pg.sql` writes member, identity
  and profile in one statement on PostgreSQL from the same three inserts SQLite runs one
  by one (`member_insert.sql`, `identity_insert.sql`, `profile_insert.sql`).
- `erasing.sql`: the transaction-local setting under which the events' append-only
  trigger lets `erase_member` scrub the member's events.
"""

from __future__ import annotations

from pathlib import Path

from accounts.models import PREMIUM_TIERS, SubscriptionStatus
from config import sqlfiles

FOLDER = Path(__file__).resolve().parent


def statement(name: str, **pieces: str) -> str:
    """`<name>.sql` on one line, without its comments, with its `{pieces}` filled in."""
    return sqlfiles.load(FOLDER, name, **pieces)


# `{member}` (an SQL expression: a member's id) is a premium subscriber at `{now}` (a
# parameter): fill both with `str.format`; SQLite and PostgreSQL read it alike.
PREMIUM_SUBSCRIBER = statement(
    "premium_subscriber",
    member="{member}",
    now="{now}",
    active=SubscriptionStatus.ACTIVE.value,
    tiers=", ".join(f"'{tier.value}'" for tier in PREMIUM_TIERS),
)

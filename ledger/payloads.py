"""The data of the events the ledger publishes (`ledger.*`), defined once.

Each kind is a `TypedDict` registered with `events.payloads.schema` and a builder;
`events.payloads` says why. `ledger.transfer_posted` is the hottest event in Concord: on
PostgreSQL the posting statement writes it itself (`ledger/sql/post.pg.sql`, its JSON made
by `events.payloads.sql_object` from `TransferPosted` and `Posting`), on SQLite
`transfer_posted` builds it. Readers: the dashboard's feed, leaderboards and cache bumps,
the leaderboard and ticker overlays (static/overlays/*.js read `currency` and `postings`),
the tournament and narrative tests.
"""

from __future__ import annotations

from datetime import date
from typing import TypedDict

from events.payloads import instant, schema


class Posting(TypedDict):
    """One leg of a transfer: a member's wallet (`member_id`, with the wallet's balance and
    version after it) or a system account (`system`, no balance)."""

    member_id: int | None
    system: str | None
    amount: int
    balance: int | None
    version: int | None


@schema("ledger.transfer_posted")
class TransferPosted(TypedDict):
    transfer_id: int
    kind: str  # the transfer's kind (award, spend, ...), not the event's
    currency: str
    reason: str
    reverses: int | None  # the transfer a reversal undoes
    postings: list[Posting]  # in the plan's order


def posting(
    *,
    member_id: int | None,
    system: str | None,
    amount: int,
    balance: int | None,
    version: int | None,
) -> Posting:
    return {
        "member_id": member_id,
        "system": system,
        "amount": amount,
        "balance": balance,
        "version": version,
    }


def transfer_posted(
    *,
    transfer_id: int,
    kind: str,
    currency: str,
    reason: str,
    reverses: int | None,
    postings: list[Posting],
) -> TransferPosted:
    return {
        "transfer_id": transfer_id,
        "kind": kind,
        "currency": currency,
        "reason": reason,
        "reverses": reverses,
        "postings": postings,
    }


@schema("ledger.hold_placed", "ledger.hold_captured", "ledger.hold_released", "ledger.hold_expired")
class HoldChanged(TypedDict):
    hold_id: int
    member_id: int
    currency: str
    amount: int
    sink: str  # the system account a capture pays (sink:<name>)
    status: str  # the hold's status after the change
    balance: int  # the wallet's, after the change
    held: int
    transfer_id: int | None  # the capture's spend


def hold_changed(
    *,
    hold_id: int,
    member_id: int,
    currency: str,
    amount: int,
    sink: str,
    status: str,
    balance: int,
    held: int,
    transfer_id: int | None,
) -> HoldChanged:
    return {
        "hold_id": hold_id,
        "member_id": member_id,
        "currency": currency,
        "amount": amount,
        "sink": sink,
        "status": status,
        "balance": balance,
        "held": held,
        "transfer_id": transfer_id,
    }


@schema("ledger.achievement_granted")
class AchievementGranted(TypedDict):
    member_id: int
    achievement: str  # its code
    name: str
    reward: int  # 0: no reward
    currency: str | None  # the reward's
    transfer_id: int | None


def achievement_granted(
    *,
    member_id: int,
    achievement: str,
    name: str,
    reward: int,
    currency: str | None,
    transfer_id: int | None,
) -> AchievementGranted:
    return {
        "member_id": member_id,
        "achievement": achievement,
        "name": name,
        "reward": reward,
        "currency": currency,
        "transfer_id": transfer_id,
    }


@schema("ledger.activity_recorded")
class ActivityRecorded(TypedDict):
    member_id: int
    day: str  # ISO date
    current: int  # the streak's days after it
    longest: int


def activity_recorded(*, member_id: int, day: date, current: int, longest: int) -> ActivityRecorded:
    return {"member_id": member_id, "day": instant(day), "current": current, "longest": longest}


@schema("config.changed")
class ConfigChanged(TypedDict):
    """A configuration row (currency, achievement, story, chapter, choice, tournament
    settings) was inserted, updated or deleted: written by `config_changed()`
    (ledger/sql/config_changed.pg.sql) from each history row on PostgreSQL, by
    `config.history` on SQLite. Names the fields that changed, never their values;
    `version` is the history row (0 on SQLite, which keeps none)."""

    model: str  # "ledger.currency"
    pk: int
    operation: str  # insert, update, delete
    fields: list[str]
    version: int


def config_changed(*, model: str, pk: int, operation: str, fields: list[str]) -> ConfigChanged:
    return ConfigChanged(model=model, pk=pk, operation=operation, fields=fields, version=0)


@schema("ledger.activity_archived")
class ActivityArchived(TypedDict):
    """Old activity days moved to the file `file` (ledger.archive)."""

    rows: int
    file: str
    sha256: str


def activity_archived(*, rows: int, file: str, sha256: str) -> ActivityArchived:
    return {"rows": rows, "file": file, "sha256": sha256}

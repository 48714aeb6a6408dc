"""The data of the events tournaments publish (`tournament.*`), defined once.

Each kind is a `TypedDict` registered with `events.payloads.schema` and a builder;
`events.payloads` says why. Every one names `tournament_id`: a `tournament:<id>` stream
scope selects events by it (`dashboard.scopes`). `tournament.registered` and
`tournament.waitlisted` are written on PostgreSQL by the registration statement itself
(`tournaments/sql/place.pg.sql`, its JSON made by `events.payloads.sql_object` from
`Registered`), on SQLite by `registered`. Readers: the tournament board and its overlay
(static/overlays/tournament.js), the dashboard's feed, the import command, tests.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from events.payloads import schema


class Counts(TypedDict):
    """The tournament's counters after the change."""

    active_count: int  # registered + checked in
    waitlist_count: int
    capacity: int


def counts(*, active_count: int, waitlist_count: int, capacity: int) -> Counts:
    return {"active_count": active_count, "waitlist_count": waitlist_count, "capacity": capacity}


@schema("tournament.created")
class Created(TypedDict):
    tournament_id: int
    name: str
    game: str
    status: str
    format: str
    capacity: int
    entry_fee: int


def created(
    *,
    tournament_id: int,
    name: str,
    game: str,
    status: str,
    format: str,
    capacity: int,
    entry_fee: int,
) -> Created:
    return {
        "tournament_id": tournament_id,
        "name": name,
        "game": game,
        "status": status,
        "format": format,
        "capacity": capacity,
        "entry_fee": entry_fee,
    }


@schema("tournament.updated")
class Updated(TypedDict):
    tournament_id: int
    changed: list[str]  # the settings' names, sorted


def updated(*, tournament_id: int, changed: list[str]) -> Updated:
    return {"tournament_id": tournament_id, "changed": changed}


class StatusDetails(TypedDict, total=False):
    """What some status changes add: closing check-in (to `in_progress`) counts
    `no_shows`, `promoted` and `checked_in`; cancelling counts `refunded` and gives the
    `reason`."""

    no_shows: int
    promoted: int
    checked_in: int
    refunded: int
    reason: str


# `from` is a keyword: the functional form.
StatusChanged = schema("tournament.status_changed")(
    TypedDict(
        "StatusChanged",
        {
            "tournament_id": int,
            "from": str,
            "to": str,
            "no_shows": NotRequired[int],
            "promoted": NotRequired[int],
            "checked_in": NotRequired[int],
            "refunded": NotRequired[int],
            "reason": NotRequired[str],
        },
    )
)


def status_changed(
    *, tournament_id: int, before: str, to: str, details: StatusDetails
) -> StatusChanged:
    return {"tournament_id": tournament_id, "from": before, "to": to, **details}


@schema("tournament.registered", "tournament.waitlisted")
class Registered(Counts):
    """One registration, seated (`registered`: `transfer_id` is the entry fee's, `fee`
    what it cost) or waitlisted (`waitlist_position`; `fee` 0, charged on promotion)."""

    tournament_id: int
    registration_id: int
    member_id: int
    status: str
    waitlist_position: int | None
    transfer_id: int | None
    fee: int


def registered(
    *,
    tournament_id: int,
    registration_id: int,
    member_id: int,
    status: str,
    waitlist_position: int | None,
    transfer_id: int | None,
    fee: int,
    active_count: int,
    waitlist_count: int,
    capacity: int,
) -> Registered:
    return {
        "tournament_id": tournament_id,
        "registration_id": registration_id,
        "member_id": member_id,
        "status": status,
        "waitlist_position": waitlist_position,
        "transfer_id": transfer_id,
        "fee": fee,
        "active_count": active_count,
        "waitlist_count": waitlist_count,
        "capacity": capacity,
    }


@schema("tournament.registered_many")
class RegisteredMany(Counts):
    tournament_id: int
    registered: int
    waitlisted: int


def registered_many(
    *, tournament_id: int, registered: int, waitlisted: int, counted: Counts
) -> RegisteredMany:
    return {
        "tournament_id": tournament_id,
        "registered": registered,
        "waitlisted": waitlisted,
        **counted,
    }


@schema("tournament.promotion_skipped")
class PromotionSkipped(TypedDict):
    tournament_id: int
    registration_id: int
    member_id: int
    waitlist_position: int
    reason: str  # why the fee could not be charged


def promotion_skipped(
    *, tournament_id: int, registration_id: int, member_id: int, waitlist_position: int, reason: str
) -> PromotionSkipped:
    return {
        "tournament_id": tournament_id,
        "registration_id": registration_id,
        "member_id": member_id,
        "waitlist_position": waitlist_position,
        "reason": reason,
    }


@schema("tournament.promoted")
class Promoted(Counts):
    tournament_id: int
    registration_id: int
    member_id: int
    status: str  # registered, or checked_in when check-in has closed
    from_position: int
    transfer_id: int | None  # the entry fee's


def promoted(
    *,
    tournament_id: int,
    registration_id: int,
    member_id: int,
    status: str,
    from_position: int,
    transfer_id: int | None,
    counted: Counts,
) -> Promoted:
    return {
        "tournament_id": tournament_id,
        "registration_id": registration_id,
        "member_id": member_id,
        "status": status,
        "from_position": from_position,
        "transfer_id": transfer_id,
        **counted,
    }


@schema("tournament.withdrawn")
class Withdrawn(Counts):
    tournament_id: int
    registration_id: int
    member_id: int
    was: str  # the status it left
    waitlist_position: int | None  # the one it left
    refund_transfer_id: int | None


def withdrawn(
    *,
    tournament_id: int,
    registration_id: int,
    member_id: int,
    was: str,
    waitlist_position: int | None,
    refund_transfer_id: int | None,
    counted: Counts,
) -> Withdrawn:
    return {
        "tournament_id": tournament_id,
        "registration_id": registration_id,
        "member_id": member_id,
        "was": was,
        "waitlist_position": waitlist_position,
        "refund_transfer_id": refund_transfer_id,
        **counted,
    }


@schema("tournament.disqualified")
class Disqualified(Counts):
    tournament_id: int
    registration_id: int
    member_id: int
    reason: str


def disqualified(
    *, tournament_id: int, registration_id: int, member_id: int, reason: str, counted: Counts
) -> Disqualified:
    return {
        "tournament_id": tournament_id,
        "registration_id": registration_id,
        "member_id": member_id,
        "reason": reason,
        **counted,
    }


@schema("tournament.checked_in")
class CheckedIn(TypedDict):
    tournament_id: int
    registration_id: int
    member_id: int


def checked_in(*, tournament_id: int, registration_id: int, member_id: int) -> CheckedIn:
    return {
        "tournament_id": tournament_id,
        "registration_id": registration_id,
        "member_id": member_id,
    }


@schema("tournament.no_show")
class NoShow(Counts):
    tournament_id: int
    registration_ids: list[int]
    member_ids: list[int]  # in the registrations' order


def no_show(
    *, tournament_id: int, registration_ids: list[int], member_ids: list[int], counted: Counts
) -> NoShow:
    return {
        "tournament_id": tournament_id,
        "registration_ids": registration_ids,
        "member_ids": member_ids,
        **counted,
    }


class Seed(TypedDict):
    registration_id: int
    member_id: int
    seed: int


@schema("tournament.bracket_generated")
class BracketGenerated(TypedDict):
    tournament_id: int
    format: str
    players: int
    rounds: int
    matches: int
    seeds: list[Seed]  # in seed order


def seed(*, registration_id: int, member_id: int, seed: int) -> Seed:
    return {"registration_id": registration_id, "member_id": member_id, "seed": seed}


def bracket_generated(
    *, tournament_id: int, format: str, players: int, rounds: int, matches: int, seeds: list[Seed]
) -> BracketGenerated:
    return {
        "tournament_id": tournament_id,
        "format": format,
        "players": players,
        "rounds": rounds,
        "matches": matches,
        "seeds": seeds,
    }


@schema("tournament.match_recorded")
class MatchRecorded(TypedDict):
    tournament_id: int
    match_id: int
    round: int
    slot: int
    winner_registration_id: int
    loser_registration_id: int
    score: str
    next_match_id: int | None  # where the winner plays next (single elimination)


def match_recorded(
    *,
    tournament_id: int,
    match_id: int,
    round: int,
    slot: int,
    winner_registration_id: int,
    loser_registration_id: int,
    score: str,
    next_match_id: int | None,
) -> MatchRecorded:
    return {
        "tournament_id": tournament_id,
        "match_id": match_id,
        "round": round,
        "slot": slot,
        "winner_registration_id": winner_registration_id,
        "loser_registration_id": loser_registration_id,
        "score": score,
        "next_match_id": next_match_id,
    }


class Placement(TypedDict):
    registration_id: int
    member_id: int
    placement: int
    prize: int  # 0: none


@schema("tournament.finalized")
class Finalized(TypedDict):
    tournament_id: int
    transfer_id: int | None  # the prizes' award_many (None: the table pays nobody)
    placements: list[Placement]  # by placement, then registration


def placement(*, registration_id: int, member_id: int, placement: int, prize: int) -> Placement:
    return {
        "registration_id": registration_id,
        "member_id": member_id,
        "placement": placement,
        "prize": prize,
    }


def finalized(
    *, tournament_id: int, transfer_id: int | None, placements: list[Placement]
) -> Finalized:
    return {"tournament_id": tournament_id, "transfer_id": transfer_id, "placements": placements}

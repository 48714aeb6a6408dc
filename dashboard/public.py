"""What overlays and token streams may show of an event: its public projection.

An event's data is written for the log, staff and the integrity report: external ids,
usernames, emails, balances, staff's free text (adjustment, reversal, cancellation and
disqualification reasons). An overlay link or a bot's read-only token is shown on stream
to anyone watching, so everything a token receives — live frames and the replay from the
log (`dashboard.hub.stream_text`, once per event) and the ticker's lines
(`dashboard.renders`) — is built from the projection defined here, once per kind.

Deny by default: a kind with no projector here is not sent to token streams at all, so a
new kind stays private until someone decides what of it is public. `staff.*` kinds never
get one. A projector may also return None for one event (a `member.updated` that changed
nothing public). Projectors are pure functions of the event's data (no queries: the hub
builds each frame once, for every connection, in its event loop); they read the data
defensively (events in the log may predate a field) and return None rather than fail.

Public: display names, amounts, currency, a transfer's reason where it was written for
members to read, tournament facts an overlay shows, and ids that identify nobody outside
Concord (member, transfer, tournament, registration, match, story ids). The member id is
kept: it is what overlays key rows on (the leaderboard), and what lets a bot join a
transfer to the name a `member.registered` or `member.updated` gave. Never public:
platforms, external ids, usernames, emails, balances, subscriptions, system accounts,
holds, and text that staff typed. docs/SECURITY.md, "What overlays and streams reveal",
has the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypedDict

from accounts.actions import names_an_external_id
from narrative import payloads as narrative
from tournaments import payloads as tournaments

logger = logging.getLogger(__name__)

# A `member.registered` written before display names were neutral may name the member
# after their external id (`telegram:7770001796535308`): replayed, it shows this instead.
UNNAMED = "New member"

# Transfer kinds whose reason is written for members to read (a bot's "Quiz answer",
# "Achievement: First steps", "Prizes: Spring Cup"). Every other kind shows no reason:
# adjustments and reversals carry staff's notes, refunds and purchases what a member paid
# for, a transfer between members their own message, a referral bonus whom they referred.
PUBLIC_REASON_KINDS = frozenset({"award", "bonus", "achievement", "prize"})


# --- shapes -------------------------------------------------------------------------------
# What a token may see of each public kind. Where all of an event's data is public, the
# shape is its payload's own TypedDict (`<app>.payloads`, what the action writes):
# `tournament.created` (not drafts), `tournament.updated`, `tournament.bracket_generated`
# and `narrative.story_published`. The others keep a part of it, declared here.


class PublicMember(TypedDict):
    """`member.registered`; `member.updated` when the display name changed."""

    member_id: int
    display_name: str


class PublicPosting(TypedDict):
    member_id: int
    amount: int


class PublicTransfer(TypedDict):
    """`ledger.transfer_posted`: the members' postings only (no system accounts, no
    balances); `reason` is None unless the kind is in PUBLIC_REASON_KINDS."""

    transfer_id: int
    kind: str
    currency: str
    reason: str | None
    postings: list[PublicPosting]


class PublicAchievement(TypedDict):
    member_id: int
    achievement: str
    name: str
    reward: int | None
    currency: str | None


# "from" is a keyword: the functional syntax. No `reason` (a cancellation's is staff's).
PublicStatusChange = TypedDict(
    "PublicStatusChange",
    {
        "tournament_id": int,
        "from": str,
        "to": str,
        "no_shows": int,
        "promoted": int,
        "checked_in": int,
        "refunded": int,
    },
    total=False,
)


class PublicCounts(TypedDict, total=False):
    active_count: int
    waitlist_count: int
    capacity: int


class PublicEntry(PublicCounts, total=False):
    """`tournament.registered` / `waitlisted` / `promoted` / `withdrawn` / `disqualified` /
    `checked_in`: who took or left which place (never a disqualification's reason)."""

    tournament_id: int
    registration_id: int
    member_id: int
    status: str
    waitlist_position: int | None
    fee: int
    from_position: int | None
    was: str


class PublicBatchEntry(PublicCounts, total=False):
    tournament_id: int
    registered: int
    waitlisted: int


class PublicNoShow(PublicCounts, total=False):
    tournament_id: int
    registration_ids: list[int]
    member_ids: list[int]


class PublicMatch(TypedDict):
    tournament_id: int
    match_id: int
    round: int
    slot: int
    winner_registration_id: int | None
    loser_registration_id: int | None
    score: str
    next_match_id: int | None


class PublicFinal(TypedDict):
    """`tournament.finalized` without the prizes' transfer."""

    tournament_id: int
    placements: list[tournaments.Placement]


# --- projectors -------------------------------------------------------------------------


def _id(value) -> int | None:
    return value if type(value) is int else None


def _pick(data: dict, keys) -> dict:
    return {key: data[key] for key in keys if key in data}


def _member_registered(data: dict) -> PublicMember | None:
    member_id = _id(data.get("member_id"))
    name = data.get("display_name")
    if member_id is None or not isinstance(name, str):
        return None
    external_id = str(data.get("external_id") or "")
    if name == f"{data.get('platform')}:{external_id}" or names_an_external_id(name, [external_id]):
        name = UNNAMED
    return {"member_id": member_id, "display_name": name}


def _member_updated(data: dict) -> PublicMember | None:
    member_id, changed = _id(data.get("member_id")), data.get("changed")
    if member_id is None or not isinstance(changed, dict):
        return None
    name = changed.get("display_name")
    if not isinstance(name, str):
        return None  # nothing public changed (email, language, premium...)
    return {"member_id": member_id, "display_name": name}


def _transfer_posted(data: dict) -> PublicTransfer | None:
    transfer_id, postings = _id(data.get("transfer_id")), data.get("postings")
    if transfer_id is None or not isinstance(postings, list):
        return None
    kind = str(data.get("kind") or "")
    reason = data.get("reason")
    return {
        "transfer_id": transfer_id,
        "kind": kind,
        "currency": str(data.get("currency") or ""),
        "reason": reason if kind in PUBLIC_REASON_KINDS and isinstance(reason, str) else None,
        "postings": [
            {"member_id": posting["member_id"], "amount": posting.get("amount")}
            for posting in postings
            if isinstance(posting, dict) and _id(posting.get("member_id")) is not None
        ],
    }


def _achievement_granted(data: dict) -> PublicAchievement | None:
    if _id(data.get("member_id")) is None:
        return None
    return {
        "member_id": data["member_id"],
        "achievement": data.get("achievement"),
        "name": data.get("name"),
        "reward": data.get("reward"),
        "currency": data.get("currency"),
    }


def _tournament(keys: tuple[str, ...]) -> Callable[[dict], dict | None]:
    """A projector keeping `tournament_id` and `keys` (those the event has)."""

    def project(data: dict) -> dict | None:
        if _id(data.get("tournament_id")) is None:
            return None
        return _pick(data, ("tournament_id", *keys))

    return project


COUNTS = ("active_count", "waitlist_count", "capacity")
ENTRY = ("registration_id", "member_id")


def _tournament_created(data: dict) -> tournaments.Created | None:
    if data.get("status") == "draft":
        return None  # not announced yet: staff's draft
    return _tournament(("name", "game", "status", "format", "capacity", "entry_fee"))(data)


def _list_of(items, keys: tuple[str, ...]) -> list[dict]:
    if not isinstance(items, list):
        return []
    return [_pick(item, keys) for item in items if isinstance(item, dict)]


def _bracket_generated(data: dict) -> tournaments.BracketGenerated | None:
    projected = _tournament(("format", "players", "rounds", "matches"))(data)
    if projected is not None:
        projected["seeds"] = _list_of(data.get("seeds"), ("registration_id", "member_id", "seed"))
    return projected


def _finalized(data: dict) -> PublicFinal | None:
    projected = _tournament(())(data)
    if projected is not None:
        keys = ("registration_id", "member_id", "placement", "prize")
        projected["placements"] = _list_of(data.get("placements"), keys)
    return projected


def _story_published(data: dict) -> narrative.StoryPublished | None:
    if _id(data.get("story_id")) is None:
        return None
    return {"story_id": data["story_id"], "title": data.get("title")}


Projector = Callable[[dict], "dict | None"]

# kind -> (projector, the TypedDict its result fits). Kinds not here are private: see the
# module docstring and docs/SECURITY.md for each one's reason.
_TABLE: dict[str, tuple[Projector, type]] = {
    "member.registered": (_member_registered, PublicMember),
    "member.updated": (_member_updated, PublicMember),
    "ledger.transfer_posted": (_transfer_posted, PublicTransfer),
    "ledger.achievement_granted": (_achievement_granted, PublicAchievement),
    "tournament.created": (_tournament_created, tournaments.Created),
    "tournament.updated": (_tournament(("changed",)), tournaments.Updated),
    "tournament.status_changed": (
        _tournament(("from", "to", "no_shows", "promoted", "checked_in", "refunded")),
        PublicStatusChange,
    ),
    "tournament.registered": (
        _tournament((*ENTRY, "status", "waitlist_position", "fee", *COUNTS)),
        PublicEntry,
    ),
    "tournament.waitlisted": (
        _tournament((*ENTRY, "status", "waitlist_position", "fee", *COUNTS)),
        PublicEntry,
    ),
    "tournament.registered_many": (
        _tournament(("registered", "waitlisted", *COUNTS)),
        PublicBatchEntry,
    ),
    "tournament.promoted": (
        _tournament((*ENTRY, "status", "from_position", *COUNTS)),
        PublicEntry,
    ),
    "tournament.withdrawn": (
        _tournament((*ENTRY, "was", "waitlist_position", *COUNTS)),
        PublicEntry,
    ),
    "tournament.disqualified": (_tournament((*ENTRY, *COUNTS)), PublicEntry),
    "tournament.checked_in": (_tournament(ENTRY), PublicEntry),
    "tournament.no_show": (
        _tournament(("registration_ids", "member_ids", *COUNTS)),
        PublicNoShow,
    ),
    "tournament.bracket_generated": (_bracket_generated, tournaments.BracketGenerated),
    "tournament.match_recorded": (
        _tournament(
            (
                "match_id",
                "round",
                "slot",
                "winner_registration_id",
                "loser_registration_id",
                "score",
                "next_match_id",
            )
        ),
        PublicMatch,
    ),
    "tournament.finalized": (_finalized, PublicFinal),
    "narrative.story_published": (_story_published, narrative.StoryPublished),
}
assert not any(kind.startswith("staff.") for kind in _TABLE), "staff.* kinds are never public"

PROJECTORS: dict[str, Projector] = {kind: entry[0] for kind, entry in _TABLE.items()}
SHAPES: dict[str, type] = {kind: entry[1] for kind, entry in _TABLE.items()}


def project(kind: str, data: Any) -> dict | None:
    """The public projection of one event, or None: then no token stream receives it."""
    if kind.startswith("staff."):
        return None
    projector = PROJECTORS.get(kind)
    if projector is None or not isinstance(data, dict):
        return None
    try:
        return projector(data)
    except Exception:  # a malformed old row must not stop the stream
        logger.exception("public: could not project a %s event", kind)
        return None

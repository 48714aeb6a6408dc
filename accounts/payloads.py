"""The data of the events accounts publishes (`member.*`, `subscription.*`,
`staff.login_locked`), defined once.

Each kind is a `TypedDict` registered with `events.payloads.schema` and a builder the
action calls; `events.payloads` says why. Readers: the dashboard's feed and caches
(`member.registered`, `member.updated`), the ticker overlay, bots on /ws/stream/ (never a
`staff.*` kind: `dashboard.public`), the integrity report and staff reading the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from events.payloads import instant, schema


@schema("member.registered")
class MemberRegistered(TypedDict):
    member_id: int
    display_name: str
    platform: str
    external_id: str
    username: str
    referred_by: int | None  # the referrer's member id


def member_registered(
    *,
    member_id: int,
    display_name: str,
    platform: str,
    external_id: str,
    username: str,
    referred_by: int | None,
) -> MemberRegistered:
    return {
        "member_id": member_id,
        "display_name": display_name,
        "platform": platform,
        "external_id": external_id,
        "username": username,
        "referred_by": referred_by,
    }


class MemberChanges(TypedDict, total=False):
    """The fields `update_member` changed, with their new values."""

    display_name: str
    language: str
    is_active: bool
    email: str


@schema("member.updated")
class MemberUpdated(TypedDict):
    member_id: int
    changed: MemberChanges


def member_updated(*, member_id: int, changed: MemberChanges) -> MemberUpdated:
    return {"member_id": member_id, "changed": changed}


@schema("member.identity_linked")
class IdentityLinked(TypedDict):
    member_id: int
    platform: str
    external_id: str


def identity_linked(*, member_id: int, platform: str, external_id: str) -> IdentityLinked:
    return {"member_id": member_id, "platform": platform, "external_id": external_id}


@schema("subscription.started")
class SubscriptionStarted(TypedDict):
    member_id: int
    subscription_id: int
    tier: str
    starts_at: str  # ISO time (events.payloads.instant)
    expires_at: str | None


def subscription_started(
    *,
    member_id: int,
    subscription_id: int,
    tier: str,
    starts_at: datetime,
    expires_at: datetime | None,
) -> SubscriptionStarted:
    return {
        "member_id": member_id,
        "subscription_id": subscription_id,
        "tier": tier,
        "starts_at": instant(starts_at),
        "expires_at": instant(expires_at),
    }


@schema("subscription.cancelled")
class SubscriptionCancelled(TypedDict):
    member_id: int
    subscription_id: int
    tier: str


def subscription_cancelled(
    *, member_id: int, subscription_id: int, tier: str
) -> SubscriptionCancelled:
    return {"member_id": member_id, "subscription_id": subscription_id, "tier": tier}


@schema("subscription.expired")
class SubscriptionExpired(TypedDict):
    member_id: int
    subscription_id: int
    tier: str
    expired_at: str  # its expires_at (ISO time)


def subscription_expired(
    *, member_id: int, subscription_id: int, tier: str, expired_at: datetime
) -> SubscriptionExpired:
    return {
        "member_id": member_id,
        "subscription_id": subscription_id,
        "tier": tier,
        "expired_at": instant(expired_at),
    }


@schema("subscription.renewed")
class SubscriptionRenewed(TypedDict):
    member_id: int
    subscription_id: int
    tier: str
    previous_expires_at: str
    expires_at: str


def subscription_renewed(
    *,
    member_id: int,
    subscription_id: int,
    tier: str,
    previous_expires_at: datetime,
    expires_at: datetime,
) -> SubscriptionRenewed:
    return {
        "member_id": member_id,
        "subscription_id": subscription_id,
        "tier": tier,
        "previous_expires_at": instant(previous_expires_at),
        "expires_at": instant(expires_at),
    }


@schema("subscription.tier_changed")
class SubscriptionTierChanged(TypedDict):
    """`change_tier`: the old subscription ended (`replaced`), the new one started."""

    member_id: int
    replaced_subscription_id: int
    subscription_id: int  # the new one
    old_tier: str
    tier: str
    expires_at: str | None


def subscription_tier_changed(
    *,
    member_id: int,
    replaced_subscription_id: int,
    subscription_id: int,
    old_tier: str,
    tier: str,
    expires_at: datetime | None,
) -> SubscriptionTierChanged:
    return {
        "member_id": member_id,
        "replaced_subscription_id": replaced_subscription_id,
        "subscription_id": subscription_id,
        "old_tier": old_tier,
        "tier": tier,
        "expires_at": instant(expires_at),
    }


class ProfileChanges(TypedDict, total=False):
    """The profile fields `update_profile` changed, with their new values."""

    archetype: str
    welcomed: bool
    onboarding_completed: bool
    tutorial_completed: bool
    preferences: dict[str, bool | str]  # accounts.profiles.Preferences, whole
    personality: dict[str, int]  # accounts.profiles.Personality, whole


@schema("member.profile_updated")
class ProfileUpdated(TypedDict):
    member_id: int
    changed: ProfileChanges


def profile_updated(*, member_id: int, changed: ProfileChanges) -> ProfileUpdated:
    return {"member_id": member_id, "changed": changed}


@schema("staff.login_locked")
class LoginLocked(TypedDict):
    """A staff login lock (`accounts.logins.record_lock`): never a password, never the
    user agent."""

    username: str | None  # only when it names an account
    address: str | None  # the address counted (an IPv6 client's /64)
    locked_by: list[str]  # "username", "address": which counters reached the limit
    failures: int  # the limit reached
    seconds: int  # the cool-off
    until: str  # ISO time the lock ends (events.payloads.instant)


def login_locked(
    *,
    username: str | None,
    address: str | None,
    locked_by: list[str],
    failures: int,
    seconds: int,
    until: datetime,
) -> LoginLocked:
    return {
        "username": username,
        "address": address,
        "locked_by": locked_by,
        "failures": failures,
        "seconds": seconds,
        "until": instant(until),
    }


@schema("member.erased")
class MemberErased(TypedDict):
    """A member's personal data was erased (`accounts.erasure.erase_member`). Holds none of
    it: how many identities were tombstoned and the reason staff gave."""

    member_id: int
    identities: int
    reason: str


def member_erased(*, member_id: int, identities: int, reason: str) -> MemberErased:
    return {"member_id": member_id, "identities": identities, "reason": reason}

"""A member's profile (`update_profile`, the only writer after registration) and their
activity mark (`note_activity`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from pydantic import ValidationError

import events
from accounts import payloads, sql
from accounts.erasure import is_erased
from accounts.exceptions import (
    AccountsError,
    InvalidPersonality,
    InvalidPreferences,
    MemberErased,
    UnknownArchetype,
)
from accounts.models import Archetype, Member, Profile
from accounts.profiles import Personality, Preferences

PROFILE_FLAGS = ("welcomed", "onboarding_completed", "tutorial_completed")
PROFILE_EDITABLE = ("archetype", *PROFILE_FLAGS, "preferences", "personality")
ACTIVITY_EVERY = timedelta(minutes=1)
_TOUCH = sql.statement("member_touch")


def _validated(name: str, value) -> object:
    if name == "archetype":
        if value not in Archetype.values:
            raise UnknownArchetype(
                f"unknown archetype {value!r} (expected one of"
                f" {', '.join(repr(v) for v in Archetype.values)})"
            )
        return value
    if name in PROFILE_FLAGS:
        if not isinstance(value, bool):
            raise AccountsError(f"{name} is true or false, not {value!r}")
        return value
    if name == "preferences":
        model, error = Preferences, InvalidPreferences
    else:
        model, error = Personality, InvalidPersonality
    if not isinstance(value, dict):
        found = [f"{name}: a JSON object, not {type(value).__name__}"]
        raise error(f"{name} refused: {found[0]}", found)
    try:
        parsed = model.model_validate(value)
    except ValidationError as invalid:
        found = [
            f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in invalid.errors()
        ]
        raise error(f"{name} refused: {'; '.join(found)}", found) from None
    return parsed.model_dump(exclude_none=True)


@transaction.atomic
def update_profile(member: Member | int, *, actor=None, **changes) -> Profile:
    """Change a member's profile: `archetype`, the onboarding flags (`welcomed`,
    `onboarding_completed`, `tutorial_completed`), `preferences` and `personality` (each
    replaced whole, validated against `accounts.profiles`; docs/PROFILES.md). Publishes
    `member.profile_updated` with what changed; nothing changed, nothing written.
    Refusals (`UnknownArchetype`, `InvalidPreferences`, `InvalidPersonality`,
    `MemberErased`) write nothing."""
    unknown = set(changes) - set(PROFILE_EDITABLE)
    if unknown:
        raise AccountsError(f"cannot change {', '.join(sorted(unknown))} with update_profile")
    member_id = member if isinstance(member, int) else member.pk
    clean = {name: _validated(name, value) for name, value in changes.items()}
    profile = Profile.objects.select_for_update().get(member_id=member_id)
    # Read after the profile's lock, which `erase_member` takes too: an erasure that
    # committed while this waited is seen.
    if is_erased(Member.objects.only("display_name").get(pk=member_id)):
        raise MemberErased(member_id)
    changed = {name: value for name, value in clean.items() if getattr(profile, name) != value}
    if not changed:
        return profile
    for name, value in changed.items():
        setattr(profile, name, value)
    profile.save(update_fields=[*changed, "updated_at"])
    events.publish(
        "member.profile_updated",
        payloads.profile_updated(member_id=member_id, changed=changed),
        actor=actor,
        subject=f"member:{member_id}",
    )
    return profile


def note_activity(member: Member | int, now: datetime | None = None) -> bool:
    """Mark the member active now, at most once a minute (the UPDATE's own condition, so
    a busy member costs one write a minute however many processes call); True if it
    wrote. Called by `ledger.record_activity` and by the Bot API for the member a call is
    about. Not an event: a mark, throttled by design (`last_active_at` is no domain
    fact the screens follow)."""
    member_id = member if isinstance(member, int) else member.pk
    now = now or timezone.now()
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            _TOUCH,
            {
                "member": member_id,
                "now": ops.adapt_datetimefield_value(now),
                "since": ops.adapt_datetimefield_value(now - ACTIVITY_EVERY),
            },
        )
        return cursor.rowcount == 1

"""Erasing a member's personal data (a data-subject's request): `erase_member`.

What is personal goes: the email, the display name, each identity's external id and
username (and any other name field an identity has), the profile's preferences,
personality and archetype. Each becomes a tombstone that names only the member's id
(`erased:<member id>` for the name, `erased:<member id>:<n>` for the n-th identity, on
platform `web`, whose ids need not be numeric), so every unique constraint still holds and
the old identifiers find nobody. What is not personal stays, so the books still balance
and counts still count: the member row and its id, wallets and postings, holds, decisions
and progress, tournament registrations, subscriptions, achievements.

The event log is append-only: events written before the erasure (`member.registered`
carries the external id and username) stay until retention archives them (docs/
OPERATIONS.md, "Retention"). The erasure publishes `member.updated` (the tombstoned name,
so screens and caches follow) and `member.erased` (reason and count, no erased data).
"""

from __future__ import annotations

from django.db import transaction

import events
from accounts import payloads
from accounts.exceptions import ErasureNotPermitted, ErasureReasonRequired, MemberAlreadyErased
from accounts.models import Identity, Member, Platform, Profile

PERMISSION = "accounts.erase_member"
# Identity fields that name a person, blanked if the model has them.
IDENTITY_NAME_FIELDS = ("username", "first_name", "last_name")
# Profile fields about the person, reset if the model has them.
PROFILE_PERSONAL = {"preferences": {}, "personality": {}, "archetype": ""}


def tombstone(member_id: int, n: int | None = None) -> str:
    """`erased:<member id>` (n None) or `erased:<member id>:<n>`."""
    return f"erased:{member_id}" if n is None else f"erased:{member_id}:{n}"


def is_erased(member: Member) -> bool:
    return member.display_name == tombstone(member.pk)


@transaction.atomic
def erase_member(member: Member, *, reason: str, actor) -> Member:
    """Replace `member`'s personal data by tombstones, as `actor` (who must hold
    accounts.erase_member) for `reason`; refuses a blank reason, a second erasure."""
    reason = (reason or "").strip()
    if not reason:
        raise ErasureReasonRequired("an erasure needs a reason (the request it answers)")
    if actor is None or not actor.has_perm(PERMISSION):
        raise ErasureNotPermitted(f"erasing a member needs the permission {PERMISSION}")
    locked = Member.objects.select_for_update(no_key=True).get(pk=member.pk)
    if is_erased(locked):
        raise MemberAlreadyErased(f"member {locked.pk} was erased already")
    identities = list(Identity.objects.select_for_update().filter(member=locked).order_by("pk"))
    name_fields = [f.name for f in Identity._meta.concrete_fields if f.name in IDENTITY_NAME_FIELDS]
    for n, identity in enumerate(identities, start=1):
        identity.platform = Platform.WEB
        identity.external_id = tombstone(locked.pk, n)
        for name in name_fields:
            setattr(identity, name, "" if not Identity._meta.get_field(name).null else None)
        identity.save(update_fields=["platform", "external_id", *name_fields])
    profile_fields = {f.name for f in Profile._meta.concrete_fields}
    Profile.objects.filter(member=locked).update(
        **{name: value for name, value in PROFILE_PERSONAL.items() if name in profile_fields}
    )
    locked.display_name = tombstone(locked.pk)
    locked.email = ""
    locked.email_normalized = None
    locked.is_active = False
    locked.save(update_fields=["display_name", "email", "email_normalized", "is_active"])
    subject = f"member:{locked.pk}"
    events.publish(
        "member.updated",
        payloads.member_updated(
            member_id=locked.pk,
            changed={"display_name": locked.display_name, "email": "", "is_active": False},
        ),
        actor=actor,
        subject=subject,
    )
    events.publish(
        "member.erased",
        payloads.member_erased(member_id=locked.pk, identities=len(identities), reason=reason),
        actor=actor,
        subject=subject,
    )
    return locked

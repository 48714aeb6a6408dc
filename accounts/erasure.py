"""Erasing a member's personal data (a data-subject's request): `erase_member`.

What is personal goes: the email, the display name, each identity's external id and
username (and any other name field an identity has), the profile's preferences,
personality and archetype. Each becomes a tombstone that names only the member's id
(`erased:<member id>` for the name, `erased:<member id>:<n>` for the n-th identity, on
platform `web`, whose ids need not be numeric), so every unique constraint still holds and
the old identifiers find nobody. What is not personal stays, so the books still balance
and counts still count: the member row and its id, wallets and postings, holds, decisions
and progress, tournament registrations, subscriptions, achievements.

The event log is scrubbed in the same transaction: in every event about the member
(subject `member:<id>`: registration, updates, linked identities, profile changes), the
fields `display_name`, `external_id`, `username`, `first_name`, `last_name`, `email` and
the profile's `preferences`, `personality`, `archetype` (at any depth), and any other
value equal to one of the member's external ids or email, become the same tombstones
(or empty). The log is append-only; its trigger lets exactly this UPDATE through, while
the transaction-local setting `concord.erasing` names the member, and only of `data`,
only towards tombstones and empty values (events/sql/event_append_only.pg.sql). Then
`member_erased` (accounts.signals) lets the apps above scrub their copies in the same
transaction (api: webhook deliveries' bodies, stored idempotent answers).

What is not reached: free text staff typed into other events (a transfer's reason, a
disqualification's) is not searched, so staff keep names out of reasons; and archive
files already written (`events.archive`) are never rewritten: their checksums are their
proof, so an erased member's old events stay in those files until the files are deleted
by the retention policy (docs/OPERATIONS.md, "Retention").

The erasure publishes `member.updated` (the tombstoned name, so screens and caches follow)
and `member.erased` (reason and count, no erased data).
"""

from __future__ import annotations

import re

from django.db import connection, transaction

import events
from accounts import payloads, sql
from accounts.exceptions import ErasureNotPermitted, ErasureReasonRequired, MemberAlreadyErased
from accounts.models import Identity, Member, Platform, Profile
from accounts.signals import member_erased
from events.models import Event

PERMISSION = "accounts.erase_member"
# Identity fields that name a person, blanked if the model has them.
IDENTITY_NAME_FIELDS = ("username", "first_name", "last_name")
# Profile fields about the person, reset if the model has them.
PROFILE_PERSONAL = {"preferences": {}, "personality": {}, "archetype": ""}
# Keys of event data (at any depth) that hold a person's data, and what they become.
SCRUBBED_EMPTY = ("email", "username", "first_name", "last_name")
SCRUB_BATCH = 500
# The setting the append-only trigger reads (events/sql/event_append_only.pg.sql).
ERASING_SETTING = "concord.erasing"
_ERASING = sql.statement("erasing")


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
    scrub = Scrub.of(locked, identities)
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
    seqs = _scrub_log(scrub, subject)
    member_erased.send(Member, member=locked, scrub=scrub, seqs=seqs, actor=actor)
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


class Scrub:
    """What one erasure writes over a member's data in copies of it (event data, webhook
    bodies): `apply(data)` returns `data` with the personal fields and values replaced."""

    def __init__(self, member_id: int, values: dict[str, str], names=(), emails=(), ids=()):
        self.member_id = member_id
        self.values = values  # an exact personal value -> what replaces it
        # What finds copies naming the member: addresses (in any case), external ids.
        self.emails, self.external_ids = tuple(emails), tuple(ids)
        # Machine-written text that names the person among other words (a repair's
        # "update_member(display_name='Alice', ...)") is emptied: any value of 3 or more
        # characters found as a whole token. An exact match elsewhere stays (a username
        # "premium" must not blank a subscription's tier).
        tokens = sorted({n for n in names if isinstance(n, str) and len(n) >= 3}, key=len)
        self._within = (
            re.compile(
                "|".join(rf"(?<![0-9A-Za-z]){re.escape(t)}(?![0-9A-Za-z])" for t in tokens[::-1])
            )
            if tokens
            else None
        )

    @classmethod
    def of(cls, member: Member, identities: list[Identity]) -> Scrub:
        values = {}
        for n, identity in enumerate(identities, start=1):
            if identity.external_id:
                values[identity.external_id] = tombstone(member.pk, n)
        for email in (member.email, member.email_normalized):
            if email:
                values[email] = ""
        names = [member.display_name, *values]
        for identity in identities:
            names += [getattr(identity, f, None) for f in IDENTITY_NAME_FIELDS]
        emails = sorted({email for email in (member.email, member.email_normalized) if email})
        ids = [identity.external_id for identity in identities if identity.external_id]
        return cls(member.pk, values, names, emails, ids)

    def apply(self, data, key: str | None = None):
        if key in PROFILE_PERSONAL:
            return PROFILE_PERSONAL[key] if data else data
        if isinstance(data, dict):
            return {k: self.apply(v, k) for k, v in data.items()}
        if isinstance(data, list):
            return [self.apply(v, key) for v in data]
        if not isinstance(data, str):
            return data  # numbers, booleans, null
        if key == "display_name":
            return tombstone(self.member_id)
        if key == "external_id":
            return self.values.get(data, tombstone(self.member_id))
        if key in SCRUBBED_EMPTY:
            return ""
        if data in self.values:
            return self.values[data]
        if self._within is not None and self._within.search(data) and not self._exact(data):
            return ""
        return data

    def _exact(self, data: str) -> bool:
        match = self._within.fullmatch(data)
        return match is not None


def _scrub_log(scrub: Scrub, subject: str) -> list[int]:
    """Rewrite the member's events through `scrub`; the seqs changed."""
    changed = []
    for event in Event.objects.filter(subject=subject).only("seq", "data").iterator():
        data = scrub.apply(event.data)
        if data != event.data:
            event.data = data
            changed.append(event)
    if changed:
        _erasing(scrub.member_id)
        Event.objects.bulk_update(changed, ["data"], batch_size=SCRUB_BATCH)
        # Cleared after success only: a refusal aborts the transaction (which ends the
        # setting with it), and a query here would hide the trigger's message.
        _erasing(None)
    return [event.seq for event in changed]


def _erasing(member_id: int | None) -> None:
    """Name (or stop naming) the member whose events this transaction may scrub."""
    if connection.vendor != "postgresql":
        return  # SQLite has no trigger: this module is the rule
    with connection.cursor() as cursor:
        cursor.execute(_ERASING, [ERASING_SETTING, str(member_id or "")])

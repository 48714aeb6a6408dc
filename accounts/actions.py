"""Every write to members, identities, profiles and subscriptions goes through here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone

import events
from accounts.emails import normalize_email
from accounts.exceptions import (
    AccountsError,
    EmailAlreadyRegistered,
    IdentityAlreadyLinked,
    InvalidIdentity,
    InvalidSubscription,
    SubscriptionAlreadyActive,
    UnknownReferralCode,
)
from accounts.models import (
    REFERRAL_ALPHABET,
    REFERRAL_CODE_LENGTH,
    Identity,
    Member,
    Platform,
    Profile,
    Subscription,
    SubscriptionStatus,
    Tier,
)

REFERRAL_CODE_ATTEMPTS = 8
EXTERNAL_ID_MAX = Identity._meta.get_field("external_id").max_length
USERNAME_MAX = Identity._meta.get_field("username").max_length


class Registration(NamedTuple):
    member: Member
    created: bool


@dataclass(frozen=True)
class RegistrationRequest:
    """A registration's input, validated and normalized; nothing written yet."""

    platform: str
    external_id: str
    username: str
    email: str
    email_normalized: str | None
    referrer: Member | None


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def validate_identity(platform: str, external_id) -> tuple[str, str]:
    if platform not in Platform.values:
        raise InvalidIdentity(
            f"unknown platform {platform!r} (expected one of {', '.join(Platform.values)})"
        )
    external_id = str(external_id).strip() if external_id is not None else ""
    if not external_id:
        raise InvalidIdentity("an identity needs an external id")
    if len(external_id) > EXTERNAL_ID_MAX:
        raise InvalidIdentity(f"external id is longer than {EXTERNAL_ID_MAX} characters")
    return platform, external_id


def validate_registration(
    *,
    platform: str,
    external_id,
    username: str = "",
    email: str | None = None,
    referral_code: str | None = None,
) -> RegistrationRequest:
    """Check a registration without writing: raises the same errors register_member would."""
    platform, external_id = validate_identity(platform, external_id)
    username = (username or "").strip()[:USERNAME_MAX]
    email = (email or "").strip()
    email_normalized = normalize_email(email) if email else None
    referrer = None
    if referral_code:
        code = referral_code.strip().upper()
        referrer = Member.objects.filter(referral_code=code).first()
        if referrer is None:
            raise UnknownReferralCode(referral_code)
    return RegistrationRequest(platform, external_id, username, email, email_normalized, referrer)


def register_member(
    *,
    platform: str,
    external_id,
    username: str = "",
    email: str | None = None,
    referral_code: str | None = None,
    actor=None,
) -> Registration:
    """Create member, identity and profile in one transaction and publish `member.registered`.

    The same identity again returns the existing member (`created=False`) and writes
    nothing. An email normalizing to another member's raises `EmailAlreadyRegistered`, an
    unknown referral code `UnknownReferralCode`; then nothing is written. Concurrent calls
    for one identity or one mailbox end with one member: the unique constraints decide,
    and the losers are answered as if they had come second.
    """
    request = validate_registration(
        platform=platform,
        external_id=external_id,
        username=username,
        email=email,
        referral_code=referral_code,
    )
    settled = _already_registered(request)
    if settled is not None:
        return settled
    try:
        return Registration(_create_member(request, actor=actor), True)
    except IntegrityError:
        # Lost a race: another transaction committed this identity or mailbox first
        # (PostgreSQL made us wait for it, so its rows are visible now).
        settled = _already_registered(request)
        if settled is not None:
            return settled
        if request.referrer and not Member.objects.filter(pk=request.referrer.pk).exists():
            raise UnknownReferralCode(referral_code or "") from None
        raise


def _already_registered(request: RegistrationRequest) -> Registration | None:
    """The answer when the identity or the mailbox exists already, else None."""
    existing = Member.objects.by_identity(request.platform, request.external_id)
    if existing is not None:
        return Registration(existing, False)
    if _email_taken(request):
        # The mailbox may be this very identity's, committed by a concurrent call after
        # the first look: look again before calling it someone else's.
        existing = Member.objects.by_identity(request.platform, request.external_id)
        if existing is not None:
            return Registration(existing, False)
        raise EmailAlreadyRegistered(request.email, request.email_normalized)
    return None


def _email_taken(request: RegistrationRequest) -> bool:
    return bool(
        request.email_normalized
        and Member.objects.filter(email_normalized=request.email_normalized).exists()
    )


def refuse_taken_email(request: RegistrationRequest) -> None:
    if _email_taken(request):
        raise EmailAlreadyRegistered(request.email, request.email_normalized)


@transaction.atomic
def _create_member(request: RegistrationRequest, *, actor) -> Member:
    now = timezone.now()
    member = Member(
        display_name=request.username or f"{request.platform}:{request.external_id}",
        email=request.email,
        email_normalized=request.email_normalized,
        referred_by=request.referrer,
        last_active_at=now,
    )
    _insert_with_fresh_referral_code(member)
    identity = Identity.objects.create(
        member=member,
        platform=request.platform,
        external_id=request.external_id,
        username=request.username,
    )
    Profile.objects.create(member=member)
    events.publish(
        "member.registered",
        {
            "member_id": member.pk,
            "display_name": member.display_name,
            "platform": identity.platform,
            "external_id": identity.external_id,
            "username": identity.username,
            "referred_by": request.referrer.pk if request.referrer else None,
        },
        actor=actor,
        subject=f"member:{member.pk}",
    )
    return member


def _insert_with_fresh_referral_code(member: Member) -> None:
    """Insert `member`, drawing a new referral code while the drawn one is taken.

    Each attempt runs in a savepoint so a collision rolls back only that INSERT. Any other
    violation (the email's unique constraint) propagates to the caller.
    """
    for _ in range(REFERRAL_CODE_ATTEMPTS):
        member.referral_code = new_referral_code()
        try:
            with transaction.atomic():
                member.save(force_insert=True)
            return
        except IntegrityError:
            member.pk = None
            if not Member.objects.filter(referral_code=member.referral_code).exists():
                raise
    raise AccountsError(
        f"could not draw an unused referral code in {REFERRAL_CODE_ATTEMPTS} attempts"
    )


MEMBER_EDITABLE = ("display_name", "language", "is_premium", "is_active", "email")


@transaction.atomic
def update_member(member: Member, *, actor=None, **changes) -> Member:
    """Change a member's own fields (`display_name`, `language`, `is_premium`,
    `is_active`, `email`) and publish `member.updated` with what changed."""
    unknown = set(changes) - set(MEMBER_EDITABLE)
    if unknown:
        raise AccountsError(f"cannot change {', '.join(sorted(unknown))} with update_member")
    locked = Member.objects.select_for_update().get(pk=member.pk)
    changed: dict[str, object] = {}
    for name, value in changes.items():
        if name == "email":
            value = (value or "").strip()
        if getattr(locked, name) != value:
            changed[name] = value
            setattr(locked, name, value)
    if "email" in changed:
        locked.email_normalized = normalize_email(locked.email) if locked.email else None
        if (
            locked.email_normalized
            and Member.objects.filter(email_normalized=locked.email_normalized)
            .exclude(pk=locked.pk)
            .exists()
        ):
            raise EmailAlreadyRegistered(locked.email, locked.email_normalized)
    if not changed:
        return locked
    fields = list(changed) + (["email_normalized"] if "email" in changed else [])
    try:
        with transaction.atomic():
            locked.save(update_fields=fields)
    except IntegrityError:
        if "email" in changed and locked.email_normalized:
            raise EmailAlreadyRegistered(locked.email, locked.email_normalized) from None
        raise
    events.publish(
        "member.updated",
        {"member_id": locked.pk, "changed": changed},
        actor=actor,
        subject=f"member:{locked.pk}",
    )
    return locked


@transaction.atomic
def link_identity(member: Member, *, platform: str, external_id, username: str = "", actor=None):
    """Link another platform account to `member`; linking it again returns the same row."""
    platform, external_id = validate_identity(platform, external_id)
    existing = Identity.objects.filter(platform=platform, external_id=external_id).first()
    if existing is not None:
        if existing.member_id != member.pk:
            raise IdentityAlreadyLinked(f"{platform}:{external_id} belongs to another member")
        return existing
    try:
        with transaction.atomic():
            identity = Identity.objects.create(
                member=member,
                platform=platform,
                external_id=external_id,
                username=(username or "").strip()[:USERNAME_MAX],
            )
    except IntegrityError:
        raise IdentityAlreadyLinked(f"{platform}:{external_id} was just linked elsewhere") from None
    events.publish(
        "member.identity_linked",
        {"member_id": member.pk, "platform": platform, "external_id": external_id},
        actor=actor,
        subject=f"member:{member.pk}",
    )
    return identity


@transaction.atomic
def start_subscription(
    member: Member,
    *,
    tier: str,
    starts_at: datetime | None = None,
    expires_at: datetime | None = None,
    actor=None,
) -> Subscription:
    """Start a subscription; a member has at most one active (cancel the old one first)."""
    if tier not in Tier.values:
        raise InvalidSubscription(
            f"unknown tier {tier!r} (expected one of {', '.join(Tier.values)})"
        )
    starts_at = starts_at or timezone.now()
    if expires_at is not None and expires_at <= starts_at:
        raise InvalidSubscription("a subscription must expire after it starts")
    # Lock the member: two concurrent starts queue here instead of racing to the constraint.
    Member.objects.select_for_update().filter(pk=member.pk).first()
    if Subscription.objects.filter(member=member, status=SubscriptionStatus.ACTIVE).exists():
        raise SubscriptionAlreadyActive(f"{member} already has an active subscription")
    subscription = Subscription.objects.create(
        member=member, tier=tier, starts_at=starts_at, expires_at=expires_at
    )
    events.publish(
        "subscription.started",
        {
            "member_id": member.pk,
            "subscription_id": subscription.pk,
            "tier": tier,
            "starts_at": starts_at,
            "expires_at": expires_at,
        },
        actor=actor,
        subject=f"member:{member.pk}",
    )
    return subscription


@transaction.atomic
def cancel_subscription(subscription: Subscription, *, actor=None) -> Subscription:
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.status != SubscriptionStatus.ACTIVE:
        return locked
    locked.status = SubscriptionStatus.CANCELLED
    locked.save(update_fields=["status"])
    events.publish(
        "subscription.cancelled",
        {"member_id": locked.member_id, "subscription_id": locked.pk, "tier": locked.tier},
        actor=actor,
        subject=f"member:{locked.member_id}",
    )
    return locked

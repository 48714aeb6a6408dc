"""Accounts integrity checks: each returns the ids of the rows breaking one rule."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import Length
from django.utils import timezone

from accounts.actions import EXTERNAL_ID_IN_NAME_MIN
from accounts.emails import normalize_email
from accounts.exceptions import InvalidEmail
from accounts.models import (
    REFERRAL_CODE_PATTERN,
    Identity,
    Member,
    Profile,
    Subscription,
    SubscriptionStatus,
)
from integrity.registry import Violations, check, unique_enforced


@check("accounts.email_normalized_unique", "No two members share a normalized email.")
def email_normalized_unique() -> Violations:
    shared = (
        Member.objects.filter(email_normalized__isnull=False)
        .values("email_normalized")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values("email_normalized")
    )
    return Violations.from_queryset(Member.objects.filter(email_normalized__in=shared))


@check(
    "accounts.email_normalized_matches",
    "Each member's email_normalized equals normalize_email(email), and is empty without email.",
)
def email_normalized_matches() -> Violations:
    # Normalization is Python (IDNA, provider rules); the scan streams in chunks.
    bad = []
    rows = Member.objects.filter(~Q(email="") | Q(email_normalized__isnull=False))
    for pk, email, stored in rows.values_list("pk", "email", "email_normalized").iterator(
        chunk_size=5000
    ):
        try:
            expected = normalize_email(email) if email else None
        except InvalidEmail:
            expected = "(invalid)"
        if stored != expected:
            bad.append(pk)
    return Violations.from_ids(sorted(bad))


@check("accounts.referral_codes_valid", "Referral codes are unique and drawn from the alphabet.")
def referral_codes_valid() -> Violations:
    wrong = ~Q(referral_code__regex=REFERRAL_CODE_PATTERN)
    if not unique_enforced("accounts_member", "referral_code"):  # else none can be shared
        shared = (
            Member.objects.values("referral_code")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .values("referral_code")
        )
        wrong |= Q(referral_code__in=shared)
    return Violations.from_queryset(Member.objects.filter(wrong))


@check("accounts.member_has_profile", "Every member has exactly one profile.")
def member_has_profile() -> Violations:
    return Violations.from_queryset(
        Member.objects.filter(~Exists(Profile.objects.filter(member=OuterRef("pk"))))
    )


@check("accounts.member_has_identity", "Every member has at least one identity.")
def member_has_identity() -> Violations:
    return Violations.from_queryset(
        Member.objects.filter(~Exists(Identity.objects.filter(member=OuterRef("pk"))))
    )


@check("accounts.no_self_referral", "No member referred themselves.")
def no_self_referral() -> Violations:
    return Violations.from_queryset(Member.objects.filter(referred_by=F("pk")))


@check("accounts.one_active_subscription", "No member has more than one active subscription.")
def one_active_subscription() -> Violations:
    return Violations.from_queryset(
        Subscription.objects.filter(status=SubscriptionStatus.ACTIVE)
        .values("member_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1),
        field_name="member_id",
    )


@check(
    "accounts.display_name_without_external_id",
    f"No display name contains one of its member's external ids"
    f" ({EXTERNAL_ID_IN_NAME_MIN}+ characters): overlays and streams show display names.",
)
def display_name_without_external_id() -> Violations:
    # LIKE with the id escaped (Django escapes % and _ in a column's value); on SQLite
    # LIKE ignores ASCII case, which only widens what is reported.
    named = Identity.objects.annotate(length=Length("external_id")).filter(
        member=OuterRef("pk"),
        length__gte=EXTERNAL_ID_IN_NAME_MIN,
        member__display_name__contains=F("external_id"),
    )
    return Violations.from_queryset(Member.objects.filter(Exists(named)))


def expiry_grace() -> timedelta:
    """How long an active subscription may stay past its expiry before it is reported:
    two beat intervals (a run may start just before the expiry and the next one end a
    little after its own start)."""
    return timedelta(seconds=2 * settings.EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS)


@check(
    "accounts.subscriptions_expired_on_time",
    "No subscription stays active past its expiry longer than two beat intervals"
    " (EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS): beat's expiry is running.",
)
def subscriptions_expired_on_time() -> Violations:
    return Violations.from_queryset(Subscription.objects.lapsed(timezone.now() - expiry_grace()))

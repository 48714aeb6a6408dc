"""Staff users, and the community members bots serve (who never log in)."""

from __future__ import annotations

import pgtrigger
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Trim
from django.db.models.lookups import Exact

REFERRAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud safely
REFERRAL_CODE_LENGTH = 8
# \Z, not $: in Python's re (SQLite's REGEXP) $ also matches before a final newline.
REFERRAL_CODE_PATTERN = rf"^[{REFERRAL_ALPHABET}]{{{REFERRAL_CODE_LENGTH}}}\Z"
# What a display name or username must not hold: control characters (Unicode Cc: NUL,
# ESC, newlines), line and paragraph separators (Zl, Zp) and format characters (Cf: bidi
# overrides and isolates, zero-width spaces and joiners, word joiner, soft hyphen, BOM,
# tags...). They render as nothing or reorder the text around them, so a name can pass
# for another on a stream or in the admin ("alice\u202egpj.exe" reads "aliceexe.jpg").
# A fixed list (Unicode 15's Cf), written with escapes that Python's re (SQLite's REGEXP)
# and PostgreSQL's regular expressions read alike; the constraints below hold it.
# tests/accounts/test_display_names.py fails if this Python knows a character it misses.
HIDDEN_CHARACTERS_PATTERN = (
    r"[\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891"
    r"\u08e2\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    r"\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    r"\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


class User(AbstractUser):
    """Staff who log in to the admin and the dashboard."""


class Platform(models.TextChoices):
    TELEGRAM = "telegram", "Telegram"
    DISCORD = "discord", "Discord"
    WEB = "web", "Web"


class MemberQuerySet(models.QuerySet):
    def with_identities(self):
        return self.prefetch_related("identities")

    def premium_subscribers(self, now):
        """Members who are premium subscribers at `now` (see `SubscriptionQuerySet.premium`).
        Not the `is_premium` flag: that is VIP (a chapter's `vip_only`), set by staff."""
        return self.filter(Exists(Subscription.objects.premium(now).filter(member=OuterRef("pk"))))


class MemberManager(models.Manager.from_queryset(MemberQuerySet)):
    def by_identity(self, platform: str, external_id: str) -> Member | None:
        return self.filter(
            identities__platform=platform, identities__external_id=external_id
        ).first()


class Member(models.Model):
    """A person in the community, known through one or more platform identities."""

    display_name = models.CharField(max_length=150, blank=True)
    language = models.CharField(max_length=16, default="en")
    is_premium = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    email = models.CharField(max_length=254, blank=True, help_text="As typed.")
    # NULL, not "": members without email stay outside the unique constraint.
    email_normalized = models.CharField(  # noqa: DJ001
        max_length=254, null=True, blank=True, editable=False
    )
    referral_code = models.CharField(max_length=REFERRAL_CODE_LENGTH, unique=True, editable=False)
    referred_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="referrals"
    )

    objects = MemberManager()

    class Meta:
        permissions = [
            ("view_member_pii", "Can see members' emails, external ids and usernames"),
            ("erase_member", "Can erase a member's personal data"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["email_normalized"],
                condition=Q(email_normalized__isnull=False),
                name="accounts_member_email_normalized_unique",
            ),
            models.CheckConstraint(
                condition=(Q(email="") & Q(email_normalized__isnull=True))
                | (~Q(email="") & Q(email_normalized__isnull=False) & ~Q(email_normalized="")),
                name="accounts_member_email_normalized_present",
            ),
            models.CheckConstraint(
                condition=Q(referral_code__regex=REFERRAL_CODE_PATTERN),
                name="accounts_member_referral_code_format",
            ),
            models.CheckConstraint(
                condition=~Q(referred_by=F("id")), name="accounts_member_no_self_referral"
            ),
            models.CheckConstraint(
                condition=~Q(display_name__regex=HIDDEN_CHARACTERS_PATTERN),
                name="accounts_member_display_name_printable",
            ),
        ]
        triggers = [
            # Registration writes member, identity and profile in one transaction; at
            # commit the member must have its profile and at least one identity.
            pgtrigger.Trigger(
                name="accounts_member_complete",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func="""
                -- The common case first: two index probes, then done.
                IF EXISTS (SELECT 1 FROM accounts_profile WHERE member_id = NEW.id)
                   AND EXISTS (SELECT 1 FROM accounts_identity WHERE member_id = NEW.id)
                THEN
                    RETURN NULL;
                END IF;
                IF NOT EXISTS (SELECT 1 FROM accounts_member WHERE id = NEW.id) THEN
                    RETURN NULL;  -- deleted again in the same transaction
                END IF;
                IF NOT EXISTS (SELECT 1 FROM accounts_profile WHERE member_id = NEW.id) THEN
                    RAISE EXCEPTION 'member % has no profile', NEW.id
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RAISE EXCEPTION 'member % has no identity', NEW.id
                    USING ERRCODE = 'integrity_constraint_violation';
                """,
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or f"member {self.pk}"


class Identity(models.Model):
    """A member's account on one platform. One member per (platform, external id)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="identities")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    external_id = models.CharField(max_length=64)
    username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "external_id"],
                name="accounts_identity_platform_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(platform__in=Platform.values), name="accounts_identity_platform_valid"
            ),
            models.CheckConstraint(
                condition=~Q(external_id=""), name="accounts_identity_external_id_not_blank"
            ),
            # ' 42 ' and '42' would be two members for one account.
            models.CheckConstraint(
                condition=Exact(F("external_id"), Trim("external_id")),
                name="accounts_identity_external_id_trimmed",
            ),
            models.CheckConstraint(
                condition=~Q(username__regex=HIDDEN_CHARACTERS_PATTERN),
                name="accounts_identity_username_printable",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="accounts_identity_member_keeps_one",
                when=pgtrigger.After,
                operation=pgtrigger.Delete | pgtrigger.UpdateOf("member_id"),
                timing=pgtrigger.Deferred,
                func="""
                IF EXISTS (SELECT 1 FROM accounts_member WHERE id = OLD.member_id)
                   AND NOT EXISTS (SELECT 1 FROM accounts_identity WHERE member_id = OLD.member_id)
                THEN
                    RAISE EXCEPTION 'member % would be left without an identity', OLD.member_id
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"


class Archetype(models.TextChoices):
    UNKNOWN = "", "Not yet known"
    ACHIEVER = "achiever", "Achiever"
    EXPLORER = "explorer", "Explorer"
    SOCIALIZER = "socializer", "Socializer"
    COMPETITOR = "competitor", "Competitor"


class Profile(models.Model):
    """Exactly one per member (the database holds both halves of 'exactly')."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="profile")
    archetype = models.CharField(max_length=16, choices=Archetype.choices, blank=True)
    preferences = models.JSONField(default=dict, blank=True)
    welcomed = models.BooleanField(default=False)
    onboarding_completed = models.BooleanField(default=False)
    tutorial_completed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(archetype__in=Archetype.values), name="accounts_profile_archetype_valid"
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="accounts_profile_member_keeps_one",
                when=pgtrigger.After,
                operation=pgtrigger.Delete | pgtrigger.UpdateOf("member_id"),
                timing=pgtrigger.Deferred,
                func="""
                IF EXISTS (SELECT 1 FROM accounts_member WHERE id = OLD.member_id)
                   AND NOT EXISTS (SELECT 1 FROM accounts_profile WHERE member_id = OLD.member_id)
                THEN
                    RAISE EXCEPTION 'member % would be left without a profile', OLD.member_id
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"profile of {self.member}"


class Tier(models.TextChoices):
    BASIC = "basic", "Basic"
    PREMIUM = "premium", "Premium"
    PROFESSIONAL = "professional", "Professional"


# Tiers that count as a premium subscription (a story chapter's `subscription` rule).
PREMIUM_TIERS = (Tier.PREMIUM, Tier.PROFESSIONAL)


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class SubscriptionQuerySet(models.QuerySet):
    def premium(self, now):
        """What makes a member a premium subscriber at `now`: an active subscription of a
        premium tier that has started (`starts_at <= now`) and not expired
        (`expires_at > now`, or none). `accounts.sql.PREMIUM_SUBSCRIBER` says the same in
        SQL; tests/accounts/test_premium.py holds the two to the same answers."""
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            status=SubscriptionStatus.ACTIVE,
            tier__in=PREMIUM_TIERS,
            starts_at__lte=now,
        )


class Subscription(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="subscriptions")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: no expiry.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        permissions = [
            ("manage_subscription", "Can start and cancel subscriptions"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(status=SubscriptionStatus.ACTIVE),
                name="accounts_subscription_one_active_per_member",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("starts_at")),
                name="accounts_subscription_expires_after_start",
            ),
            models.CheckConstraint(
                condition=Q(tier__in=Tier.values), name="accounts_subscription_tier_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SubscriptionStatus.values),
                name="accounts_subscription_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} ({self.status}) for {self.member}"

"""Staff users, and the community members bots serve (who never log in)."""

from __future__ import annotations

import pgtrigger
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Exists, F, Func, OuterRef, Q
from django.db.models.functions import Trim
from django.db.models.lookups import Exact
from django.utils import timezone

from events.sql import refuse as _refuse

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


class JsonType(Func):
    """The JSON type of a value ('object', 'array', ...): PostgreSQL's `jsonb_typeof`,
    SQLite's `json_type`, so one CHECK says "is a JSON object" on both."""

    function = "jsonb_typeof"
    output_field = models.CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="json_type", **extra_context)


def _legal(transitions: dict[str, tuple[str, ...]]) -> str:
    """SQL true when OLD.status -> NEW.status is one of `transitions`."""
    return " OR ".join(
        f"(OLD.status = '{source}' AND NEW.status IN ("
        + ", ".join(f"'{target}'" for target in targets)
        + "))"
        for source, targets in transitions.items()
    )


class User(AbstractUser):
    """Staff who log in to the admin and the dashboard."""


class Platform(models.TextChoices):
    TELEGRAM = "telegram", "Telegram"
    DISCORD = "discord", "Discord"
    WEB = "web", "Web"


# Platforms whose user ids are numbers (Telegram's user ids, Discord's snowflakes): their
# external ids are held to decimal digits without a leading zero (at most 20: a 64-bit
# snowflake), so "042" and "42" can never become two members. Web ids are free text.
NUMERIC_PLATFORMS = (Platform.TELEGRAM, Platform.DISCORD)
NUMERIC_ID_PATTERN = r"^[1-9][0-9]{0,19}\Z"


class MemberQuerySet(models.QuerySet):
    def with_identities(self):
        return self.prefetch_related("identities")

    def premium_subscribers(self, now):
        """Members who are premium at `now` (see `SubscriptionQuerySet.premium`): the one
        definition VIP chapters, subscription chapters, the dashboard and the API read."""
        return self.filter(Exists(Subscription.objects.premium(now).filter(member=OuterRef("pk"))))

    def active_since(self, since):
        """Members active at or after `since` (index `accounts_member_last_active_at`)."""
        return self.filter(last_active_at__gte=since)


class MemberManager(models.Manager.from_queryset(MemberQuerySet)):
    def by_identity(self, platform: str, external_id: str) -> Member | None:
        return self.filter(
            identities__platform=platform, identities__external_id=external_id
        ).first()


class Member(models.Model):
    """A person in the community, known through one or more platform identities."""

    display_name = models.CharField(max_length=150, blank=True)
    language = models.CharField(max_length=16, default="en")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Real activity (`accounts.actions.note_activity`: ledger's `record_activity`, API
    # calls naming the member), written at most once a minute per member.
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
        indexes = [
            # "Active in the last N days": MemberQuerySet.active_since, the dashboard.
            models.Index(fields=["last_active_at"], name="accounts_member_last_active_at"),
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

    @property
    def is_premium(self) -> bool:
        """Premium now (`SubscriptionQuerySet.premium`, as `accounts.premium.is_premium`):
        computed, no stored flag, so no second answer."""
        return Subscription.objects.premium(timezone.now()).filter(member_id=self.pk).exists()


class Identity(models.Model):
    """A member's account on one platform. One member per (platform, external id)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="identities")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    external_id = models.CharField(max_length=64)
    username = models.CharField(max_length=150, blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_bot = models.BooleanField(default=False)
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
            models.CheckConstraint(
                condition=~Q(first_name__regex=HIDDEN_CHARACTERS_PATTERN)
                & ~Q(last_name__regex=HIDDEN_CHARACTERS_PATTERN),
                name="accounts_identity_names_printable",
            ),
            models.CheckConstraint(
                condition=~Q(platform__in=NUMERIC_PLATFORMS)
                | Q(external_id__regex=NUMERIC_ID_PATTERN),
                name="accounts_identity_numeric_external_id",
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
    # Both validated by `accounts.profiles` (schemas in docs/PROFILES.md); the database
    # holds that each is a JSON object.
    preferences = models.JSONField(default=dict, blank=True)
    personality = models.JSONField(default=dict, blank=True)
    welcomed = models.BooleanField(default=False)
    onboarding_completed = models.BooleanField(default=False)
    tutorial_completed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(archetype__in=Archetype.values), name="accounts_profile_archetype_valid"
            ),
            models.CheckConstraint(
                condition=Q(Exact(JsonType("preferences"), "object"))
                & Q(Exact(JsonType("personality"), "object")),
                name="accounts_profile_json_objects",
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
    REPLACED = "replaced", "Replaced (tier changed)"


# The only moves a subscription's status makes (the actions and the trigger read this):
# an active subscription ends once (cancelled, expired at its expiry, or replaced by
# `change_tier`); an ended one is history and never changes again.
SUBSCRIPTION_TRANSITIONS: dict[str, tuple[str, ...]] = {
    SubscriptionStatus.ACTIVE: (
        SubscriptionStatus.CANCELLED,
        SubscriptionStatus.EXPIRED,
        SubscriptionStatus.REPLACED,
    ),
}


class SubscriptionQuerySet(models.QuerySet):
    def current(self, now):
        """Active and not past its expiry at `now`: what every read calls active. A row
        still `active` past `expires_at` is expired already (beat, or the next write on
        the member, stores it so: `accounts.actions.expire_subscriptions`)."""
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now), status=SubscriptionStatus.ACTIVE
        )

    def lapsed(self, now):
        """Still `active` in the table but past its expiry at `now` (index
        `accounts_subscription_active_expiry`)."""
        return self.filter(status=SubscriptionStatus.ACTIVE, expires_at__lte=now)

    def premium(self, now):
        """What makes a member premium at `now`, the one definition every rule reads (VIP
        chapters, subscription chapters, the dashboard, the API's `is_premium`): a current
        subscription of a premium tier that has started (`starts_at <= now`).
        `accounts.sql.PREMIUM_SUBSCRIBER` says the same in SQL;
        tests/accounts/test_premium.py holds the two to the same answers."""
        return self.current(now).filter(tier__in=PREMIUM_TIERS, starts_at__lte=now)


class Subscription(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="subscriptions")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: no expiry.")
    ended_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When it stopped being active."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        permissions = [
            ("manage_subscription", "Can start, renew, change and cancel subscriptions"),
        ]
        indexes = [
            # expire_subscriptions, the integrity check and the dashboard's "expiring in 7
            # days" read active rows by expiry.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="accounts_subscription_expiry",
            ),
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
            models.CheckConstraint(
                condition=Q(status=SubscriptionStatus.ACTIVE, ended_at__isnull=True)
                | (~Q(status=SubscriptionStatus.ACTIVE) & Q(ended_at__isnull=False)),
                name="accounts_subscription_ended_iff_not_active",
            ),
            # Expiring is reaching `expires_at`: an expired row ended exactly then.
            models.CheckConstraint(
                condition=~Q(status=SubscriptionStatus.EXPIRED)
                | Q(expires_at__isnull=False, ended_at=F("expires_at")),
                name="accounts_subscription_expired_at_expiry",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="accounts_subscription_legal_transition",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update,
                func=f"""
                IF TG_OP = 'INSERT' THEN
                    IF NEW.status <> 'active' THEN
                        {_refuse("a subscription starts active, not %", "NEW.status")}
                    END IF;
                    RETURN NEW;
                END IF;
                IF OLD.status <> 'active' THEN
                    {_refuse("subscription % has ended (%): it is history", "OLD.id", "OLD.status")}
                END IF;
                IF (NEW.member_id, NEW.tier, NEW.starts_at, NEW.created_at)
                   IS DISTINCT FROM (OLD.member_id, OLD.tier, OLD.starts_at, OLD.created_at) THEN
                    {_refuse("subscription %: member, tier and start are fixed", "OLD.id")}
                END IF;
                IF NEW.status IS DISTINCT FROM OLD.status
                   AND NOT ({_legal(SUBSCRIPTION_TRANSITIONS)}) THEN
                    {
                    _refuse(
                        "subscription %: % -> % is not a legal transition",
                        "OLD.id",
                        "OLD.status",
                        "NEW.status",
                    )
                }
                END IF;
                IF NEW.status = 'expired'
                   AND NEW.expires_at > statement_timestamp() + interval '5 seconds' THEN
                    {_refuse("subscription % cannot expire before %", "OLD.id", "NEW.expires_at")}
                END IF;
                IF NEW.status = 'active' AND OLD.expires_at IS NOT NULL
                   AND (NEW.expires_at IS NULL OR NEW.expires_at < OLD.expires_at) THEN
                    {_refuse("subscription %: a renewal only moves the expiry later", "OLD.id")}
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} ({self.status}) for {self.member}"

"""Double-entry ledger. Every rule the database can hold is here.

A `Transfer` is one movement of value, made of `Posting`s that sum to zero per currency.
Member wallets (`Account` with a member) carry a cached `balance`, the sum of their
pending holds (`held`) and a `version` counting their postings; system accounts
(issuance, sinks) carry none of these, so concurrent awards never queue on them.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from accounts.models import Member
from config.history import track

CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}\Z"
ISSUANCE = "issuance"


@track(exclude=["created_at"])
class Currency(models.Model):
    """A unit of value: `points`, `credits`, or a community's own."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    signup_bonus = models.BigIntegerField(default=0, help_text="Paid to every new member.")
    referral_bonus = models.BigIntegerField(
        default=0, help_text="Paid to the referrer when a referred member registers."
    )
    opens_on_signup = models.BooleanField(
        default=True, help_text="Registration opens a wallet in this currency."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "currencies"
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=CODE_PATTERN), name="ledger_currency_code_format"
            ),
            models.CheckConstraint(
                condition=Q(signup_bonus__gte=0) & Q(referral_bonus__gte=0),
                name="ledger_currency_bonuses_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class AccountQuerySet(models.QuerySet):
    def wallets(self):
        return self.filter(member__isnull=False)

    def system(self):
        return self.filter(member__isnull=True)


class Account(models.Model):
    """A member's wallet in one currency, or a named system account."""

    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="accounts")
    member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="wallets",
        db_index=False,  # ledger_account_member_currency_unique leads with member_id
    )
    name = models.CharField(
        max_length=64, blank=True, help_text="System accounts only: issuance, sink:reading, ..."
    )
    balance = models.BigIntegerField(null=True, blank=True)
    held = models.BigIntegerField(null=True, blank=True, help_text="Sum of pending holds.")
    version = models.BigIntegerField(null=True, blank=True, help_text="Postings so far.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        permissions = [
            ("adjust_balance", "Can award or deduct points and credits by hand"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "currency"],
                condition=Q(member__isnull=False),
                name="ledger_account_member_currency_unique",
            ),
            models.UniqueConstraint(
                fields=["currency", "name"],
                condition=Q(member__isnull=True),
                name="ledger_account_system_name_unique",
            ),
            # A wallet has a member, no name and the three counters; a system account a
            # name and none of them.
            models.CheckConstraint(
                condition=(
                    Q(member__isnull=False)
                    & Q(name="")
                    & Q(balance__isnull=False)
                    & Q(held__isnull=False)
                    & Q(version__isnull=False)
                )
                | (
                    Q(member__isnull=True)
                    & ~Q(name="")
                    & Q(balance__isnull=True)
                    & Q(held__isnull=True)
                    & Q(version__isnull=True)
                ),
                name="ledger_account_wallet_or_system",
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="ledger_account_balance_not_negative"
            ),
            # Available balance (balance - held) is never negative: spends respect holds.
            models.CheckConstraint(
                condition=Q(held__gte=0) & Q(held__lte=F("balance")),
                name="ledger_account_holds_covered",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=0), name="ledger_account_version_not_negative"
            ),
        ]
        # No index may cover balance, held or version: a wallet update then changes no
        # indexed column and PostgreSQL updates the row in place (HOT, with fillfactor 80
        # leaving room on each page; migration 0005). Indexing balance for the
        # leaderboard made every award write six index entries and halved award
        # throughput; the leaderboard sorts a currency's wallets instead, and is cached.

    def __str__(self) -> str:
        if self.member_id:
            return f"{self.currency} wallet of member {self.member_id}"
        return f"{self.currency}:{self.name}"

    @property
    def available(self) -> int | None:
        return None if self.balance is None else self.balance - self.held


class TransferKind(models.TextChoices):
    AWARD = "award", "Award"
    SPEND = "spend", "Spend"
    PURCHASE = "purchase", "Purchase"
    REFUND = "refund", "Refund"
    REVERSAL = "reversal", "Reversal"
    TRANSFER = "transfer", "Transfer"
    ADJUSTMENT = "adjustment", "Adjustment"
    BONUS = "bonus", "Bonus"
    REFERRAL_BONUS = "referral_bonus", "Referral bonus"
    ACHIEVEMENT = "achievement", "Achievement"
    PRIZE = "prize", "Prize"


_APPEND_ONLY = """
RAISE EXCEPTION '% is append-only: % refused (post a correcting transfer instead)',
    TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'integrity_constraint_violation';
"""


def append_only(name: str) -> pgtrigger.Trigger:
    """A trigger refusing UPDATE and DELETE: corrections are new transfers."""
    return pgtrigger.Trigger(
        name=name,
        when=pgtrigger.Before,
        operation=pgtrigger.Update | pgtrigger.Delete,
        func=_APPEND_ONLY,
    )


class Transfer(models.Model):
    """One movement of value; its postings sum to zero per currency."""

    kind = models.CharField(max_length=20, choices=TransferKind.choices)
    idempotency_key = models.CharField(max_length=255, unique=True)
    request_hash = models.CharField(max_length=64, help_text="sha256 of the request.")
    reason = models.CharField(max_length=255)
    context = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(db_index=True)
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
        db_index=False,  # the unique constraint below indexes it
    )

    class Meta:
        permissions = [
            ("reverse_transfer", "Can reverse a transfer"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="ledger_transfer_reversed_once",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=TransferKind.values), name="ledger_transfer_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(idempotency_key=""), name="ledger_transfer_key_not_blank"
            ),
            models.CheckConstraint(
                condition=~Q(reverses=F("id")), name="ledger_transfer_not_self_reversal"
            ),
            # A reversal is exactly a transfer that reverses another.
            models.CheckConstraint(
                condition=Q(kind=TransferKind.REVERSAL, reverses__isnull=False)
                | (~Q(kind=TransferKind.REVERSAL) & Q(reverses__isnull=True)),
                name="ledger_transfer_reversal_has_original",
            ),
        ]
        triggers = [
            append_only("ledger_transfer_append_only"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} ({self.idempotency_key})"


class Posting(models.Model):
    """One line of a transfer: `amount` into (positive) or out of (negative) an account.

    Wallet postings record the wallet's balance and version after them, so any past
    balance can be read and the chain checked."""

    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="postings", db_index=False
    )
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField(null=True, blank=True)
    version = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__isnull=True, version__isnull=True)
                | Q(
                    balance_after__isnull=False,
                    version__isnull=False,
                    balance_after__gte=0,
                    version__gte=1,
                ),
                name="ledger_posting_wallet_fields_together",
            ),
            # A wallet's postings are numbered 1, 2, 3, ... by its version; also the index
            # behind statements (ledger.queries.statement). On PostgreSQL its index also
            # carries each posting's amount and balance (`ledger.0009`, INCLUDE; postings
            # are never updated, so this costs only space): the chain check
            # (ledger.integrity.wallet_versions_continuous) reads the index alone, in
            # order (14.5 s to 3 s at 1,000,000 members, docs/benchmarks/2026-12-06-scale.md).
            # Not declared here: Django makes no unique constraint with `include` on
            # SQLite, which has no covering indexes, and the rule must hold there too.
            models.UniqueConstraint(
                fields=["account", "version"],
                condition=Q(version__isnull=False),
                name="ledger_posting_account_version_unique",
            ),
        ]
        indexes = [
            # System accounts' postings (issuance, sinks), for totals and their statements,
            # and for the chain check's skip scan over the accounts that have unnumbered
            # postings (ledger.integrity.wallet_versions_continuous).
            models.Index(
                fields=["account", "id"],
                condition=Q(version__isnull=True),
                name="ledger_posting_system_account",
            ),
        ]
        triggers = [
            append_only("ledger_posting_append_only"),
            # At commit, the postings of each transfer touched must sum to zero per
            # currency. One check per transfer, not per posting: the first posting's
            # check records (transfer, highest posting id seen) in a transaction-local
            # setting, and later postings of that transfer already counted are skipped
            # (ids only grow: the column is GENERATED ALWAYS, see migration 0001).
            # One pass over the transfer's postings, each account found by primary key (a
            # subquery per posting, not a join): the plan needs no statistics. Planned on
            # tables never analyzed, a join read every account of the currency for each
            # transfer (tests/events/test_fresh_plans.py, bench/fresh.py).
            pgtrigger.Trigger(
                name="ledger_posting_transfer_balanced",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                declare=[("verified", "text"), ("leg", "record"), ("seen", "bigint")],
                func="""
                verified := current_setting('concord.ledger_verified', true);
                IF verified IS NOT NULL AND verified <> ''
                   AND split_part(verified, ':', 1)::bigint = NEW.transfer_id
                   AND NEW.id <= split_part(verified, ':', 2)::bigint THEN
                    RETURN NULL;
                END IF;
                seen := 0;
                FOR leg IN
                    SELECT t.currency_id, sum(t.amount) AS total, max(t.id) AS last
                      FROM (SELECT p.id, p.amount,
                                   (SELECT a.currency_id FROM ledger_account a
                                     WHERE a.id = p.account_id) AS currency_id
                              FROM ledger_posting p
                             WHERE p.transfer_id = NEW.transfer_id) t
                     GROUP BY t.currency_id
                LOOP
                    IF leg.total <> 0 THEN
                        RAISE EXCEPTION
                            'transfer % does not balance: its postings in currency % sum to %',
                            NEW.transfer_id, leg.currency_id, leg.total
                            USING ERRCODE = 'integrity_constraint_violation';
                    END IF;
                    seen := greatest(seen, leg.last);
                END LOOP;
                PERFORM set_config(
                    'concord.ledger_verified', NEW.transfer_id || ':' || seen, true
                );
                RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} on {self.account_id} (transfer {self.transfer_id})"


class HoldStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CAPTURED = "captured", "Captured"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Hold(models.Model):
    """Funds reserved in a wallet for a pending purchase or paid reading.

    While pending, its amount counts in the wallet's `held`; capturing it posts a spend
    to `sink`, releasing or expiring it frees the amount."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    amount = models.BigIntegerField()
    sink = models.CharField(max_length=64, help_text="The system account a capture pays.")
    status = models.CharField(max_length=16, choices=HoldStatus.choices, default=HoldStatus.PENDING)
    idempotency_key = models.CharField(max_length=255, unique=True)
    reason = models.CharField(max_length=255)
    context = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="hold"
    )

    class Meta:
        permissions = [
            ("release_hold", "Can release a pending hold"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=HoldStatus.values), name="ledger_hold_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="ledger_hold_expires_after_start"
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.PENDING, settled_at__isnull=True)
                | (~Q(status=HoldStatus.PENDING) & Q(settled_at__isnull=False)),
                name="ledger_hold_settled_unless_pending",
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.CAPTURED, transfer__isnull=False)
                | (~Q(status=HoldStatus.CAPTURED) & Q(transfer__isnull=True)),
                name="ledger_hold_captured_has_transfer",
            ),
        ]
        indexes = [
            # ledger.actions.expire_holds: pending holds by expiry.
            models.Index(
                fields=["expires_at"],
                condition=Q(status=HoldStatus.PENDING),
                name="ledger_hold_pending_expiry",
            ),
        ]
        triggers = [
            # A settled hold stays as it was settled; a pending one changes only its status.
            pgtrigger.Trigger(
                name="ledger_hold_settles_once",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func="""
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION 'holds are kept: DELETE of hold % refused', OLD.id
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                IF OLD.status <> 'pending' THEN
                    RAISE EXCEPTION 'hold % is % already', OLD.id, OLD.status
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                IF (NEW.id, NEW.account_id, NEW.amount, NEW.sink, NEW.idempotency_key,
                    NEW.reason, NEW.context, NEW.actor_id, NEW.created_at, NEW.expires_at)
                   IS DISTINCT FROM
                   (OLD.id, OLD.account_id, OLD.amount, OLD.sink, OLD.idempotency_key,
                    OLD.reason, OLD.context, OLD.actor_id, OLD.created_at, OLD.expires_at) THEN
                    RAISE EXCEPTION
                        'hold %: only its settlement (status, settled_at, transfer) may change',
                        OLD.id
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"hold #{self.pk} of {self.amount} ({self.status})"


class AchievementRule(models.TextChoices):
    BALANCE = "balance", "Balance reaches the threshold"
    STREAK = "streak", "Daily streak reaches the threshold"
    GRANTED = "granted", "Granted by another action"


@track()
class Achievement(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=50, blank=True)
    reward_amount = models.BigIntegerField(default=0)
    reward_currency = models.ForeignKey(
        Currency, null=True, blank=True, on_delete=models.PROTECT, related_name="achievements"
    )
    rule = models.CharField(max_length=16, choices=AchievementRule.choices)
    threshold = models.BigIntegerField(
        null=True, blank=True, help_text="Balance (in the reward currency) or streak days."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=CODE_PATTERN.replace("31", "63")),
                name="ledger_achievement_code_format",
            ),
            models.CheckConstraint(
                condition=Q(rule__in=AchievementRule.values), name="ledger_achievement_rule_valid"
            ),
            models.CheckConstraint(
                condition=Q(reward_amount=0)
                | Q(reward_amount__gt=0, reward_currency__isnull=False),
                name="ledger_achievement_reward_has_currency",
            ),
            models.CheckConstraint(
                condition=Q(rule=AchievementRule.GRANTED, threshold__isnull=True)
                | Q(rule=AchievementRule.STREAK, threshold__isnull=False, threshold__gte=1)
                | Q(
                    rule=AchievementRule.BALANCE,
                    threshold__isnull=False,
                    threshold__gte=1,
                    reward_currency__isnull=False,
                ),
                name="ledger_achievement_threshold_fits_rule",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MemberAchievement(models.Model):
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="achievements")
    achievement = models.ForeignKey(Achievement, on_delete=models.PROTECT, related_name="grants")
    granted_at = models.DateTimeField()
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="achievement"
    )

    class Meta:
        permissions = [
            ("grant_achievement", "Can grant an achievement by hand"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "achievement"], name="ledger_memberachievement_once"
            ),
        ]
        triggers = [
            append_only("ledger_memberachievement_append_only"),
        ]

    def __str__(self) -> str:
        return f"{self.achievement} for member {self.member_id}"


class Streak(models.Model):
    """A member's daily activity streak (one row per member)."""

    member = models.OneToOneField(
        Member, on_delete=models.PROTECT, primary_key=True, related_name="streak"
    )
    current = models.PositiveIntegerField(default=0)
    longest = models.PositiveIntegerField(default=0)
    last_day = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(current__lte=F("longest")), name="ledger_streak_current_within_longest"
            ),
            models.CheckConstraint(
                condition=Q(last_day__isnull=True, current=0)
                | Q(last_day__isnull=False, current__gte=1),
                name="ledger_streak_current_has_day",
            ),
        ]

    def __str__(self) -> str:
        return f"streak of member {self.member_id}: {self.current} (best {self.longest})"


class ActivityDay(models.Model):
    """A day a member was active; `record_activity` is idempotent per day through this."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="activity_days")
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "day"], name="ledger_activityday_once"),
        ]

    def __str__(self) -> str:
        return f"member {self.member_id} active on {self.day}"

"""Tournaments: registration with a waitlist, check-in, brackets and prizes.

The database is the referee. A `Tournament` row carries two counters, `active_count`
(registrations holding a slot: registered or checked in) and `waitlist_count`, written in
the same statement as the registration rows they count; CHECK constraints keep them within
the capacity and the waitlist limit, and on PostgreSQL a deferred constraint trigger
(`tournaments_verify()`, migration 0002) proves at commit that they agree with the rows,
that the waitlist is numbered 1..n without gaps, and that every slot of a paid tournament
is paid for. Status changes of tournaments and registrations are refused unless legal.
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import F, Q

from accounts.models import Member
from config.history import track
from events.sql import refuse as _refuse
from ledger.models import Currency, Transfer


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    REGISTRATION = "registration", "Registration open"
    CHECK_IN = "check_in", "Check-in open"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


# The only moves a tournament's status makes (actions and the trigger both read this).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.DRAFT: (Status.REGISTRATION, Status.CANCELLED),
    Status.REGISTRATION: (Status.CHECK_IN, Status.CANCELLED),
    Status.CHECK_IN: (Status.IN_PROGRESS, Status.CANCELLED),
    Status.IN_PROGRESS: (Status.COMPLETED, Status.CANCELLED),
}


class Format(models.TextChoices):
    SINGLE_ELIMINATION = "single_elimination", "Single elimination"
    ROUND_ROBIN = "round_robin", "Round robin"


class RegistrationStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    WAITLISTED = "waitlisted", "Waitlisted"
    CHECKED_IN = "checked_in", "Checked in"
    WITHDRAWN = "withdrawn", "Withdrawn"
    NO_SHOW = "no_show", "No-show"
    DISQUALIFIED = "disqualified", "Disqualified"


# Holding a slot (counted against the capacity) ...
SEATED = (RegistrationStatus.REGISTERED, RegistrationStatus.CHECKED_IN)
# ... and current: at most one of these per member and tournament.
ACTIVE = (*SEATED, RegistrationStatus.WAITLISTED)

REGISTRATION_TRANSITIONS: dict[str, tuple[str, ...]] = {
    # Promotion takes a waitlisted player to registered, or (when check-in closes) to
    # checked in; leaving the waitlist is a withdrawal.
    RegistrationStatus.WAITLISTED: (
        RegistrationStatus.REGISTERED,
        RegistrationStatus.CHECKED_IN,
        RegistrationStatus.WITHDRAWN,
    ),
    RegistrationStatus.REGISTERED: (
        RegistrationStatus.CHECKED_IN,
        RegistrationStatus.WITHDRAWN,
        RegistrationStatus.NO_SHOW,
        RegistrationStatus.DISQUALIFIED,
    ),
    RegistrationStatus.CHECKED_IN: (
        RegistrationStatus.WITHDRAWN,
        RegistrationStatus.DISQUALIFIED,
    ),
}


class MatchStatus(models.TextChoices):
    PENDING = "pending", "Waiting for players"
    READY = "ready", "Ready to play"
    COMPLETED = "completed", "Completed"
    BYE = "bye", "Bye"


DECIDED = (MatchStatus.COMPLETED, MatchStatus.BYE)


def _sql_list(values) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _legal(transitions: dict[str, tuple[str, ...]]) -> str:
    """SQL true when OLD.status -> NEW.status is one of `transitions`."""
    return " OR ".join(
        f"(OLD.status = '{source}' AND NEW.status IN ({_sql_list(targets)}))"
        for source, targets in transitions.items()
    )


# Every statement writing tournaments or registrations counts itself in a transaction-local
# setting, before it runs; the deferred verification then checks each tournament once per
# such count (see tournaments_verify() in migration 0002). Before, not after: checks made
# immediately (SET CONSTRAINTS ALL IMMEDIATE) run at the end of the statement, ahead of
# its AFTER statement triggers, and must already see a count no earlier check saw.
_COUNT_WRITES = """
PERFORM set_config(
    'concord.tournaments_writes',
    (COALESCE(NULLIF(current_setting('concord.tournaments_writes', true), ''), '0')::bigint + 1)
        ::text,
    true);
RETURN NULL;
"""


def verify(tournament: str) -> str:
    """A deferred trigger's body: `tournaments_verify(<tournament>)`, unless this very
    tournament was the last one verified at the current write count (the common case,
    tested here without the function call: a bulk insert queues one event per row)."""
    return f"""
    IF current_setting('concord.tournaments_verified', true)
       = COALESCE(current_setting('concord.tournaments_writes', true), '')
         || '|,' || {tournament} || ',' THEN
        RETURN NULL;
    END IF;
    PERFORM tournaments_verify({tournament});
    RETURN NULL;
    """


def count_writes(name: str) -> pgtrigger.Trigger:
    return pgtrigger.Trigger(
        name=name,
        level=pgtrigger.Statement,
        when=pgtrigger.Before,
        operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
        func=_COUNT_WRITES,
    )


# Its settings, not its progress (status, counters: the actions' events say those).
@track(
    fields=[
        "name",
        "game",
        "currency",
        "entry_fee",
        "capacity",
        "waitlist_limit",
        "format",
        "registration_opens_at",
        "registration_closes_at",
        "check_in_opens_at",
        "check_in_closes_at",
        "prize_table",
    ]
)
class Tournament(models.Model):
    name = models.CharField(max_length=150)
    game = models.CharField(max_length=100, blank=True)
    currency = models.ForeignKey(
        Currency,
        on_delete=models.PROTECT,
        related_name="tournaments",
        help_text="Entry fees are paid and prizes awarded in this currency.",
    )
    entry_fee = models.BigIntegerField(default=0)
    capacity = models.PositiveIntegerField(help_text="Slots: registered + checked in.")
    waitlist_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Longest waitlist; empty: no limit, 0: no waitlist."
    )
    format = models.CharField(
        max_length=20, choices=Format.choices, default=Format.SINGLE_ELIMINATION
    )
    registration_opens_at = models.DateTimeField()
    registration_closes_at = models.DateTimeField()
    check_in_opens_at = models.DateTimeField()
    check_in_closes_at = models.DateTimeField()
    prize_table = models.JSONField(
        default=dict,
        blank=True,
        help_text='Placement to amount, e.g. {"1": 500, "2": 200, "3": 100}.',
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Written with the registration rows they count (never recounted by the actions).
    active_count = models.IntegerField(default=0, editable=False)
    waitlist_count = models.IntegerField(default=0, editable=False)
    prize_transfer = models.OneToOneField(
        Transfer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        permissions = [
            (
                "run_tournament",
                "Can run a tournament (registration, check-in, bracket, finalize, cancel)",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="tournaments_tournament_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(format__in=Format.values), name="tournaments_tournament_format_valid"
            ),
            models.CheckConstraint(
                condition=~Q(name=""), name="tournaments_tournament_name_not_blank"
            ),
            models.CheckConstraint(
                condition=Q(entry_fee__gte=0), name="tournaments_tournament_fee_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=2), name="tournaments_tournament_capacity_at_least_two"
            ),
            models.CheckConstraint(
                condition=Q(active_count__gte=0) & Q(active_count__lte=F("capacity")),
                name="tournaments_tournament_seats_within_capacity",
            ),
            models.CheckConstraint(
                condition=Q(waitlist_count__gte=0)
                & (Q(waitlist_limit__isnull=True) | Q(waitlist_count__lte=F("waitlist_limit"))),
                name="tournaments_tournament_waitlist_within_limit",
            ),
            models.CheckConstraint(
                condition=Q(registration_opens_at__lt=F("registration_closes_at"))
                & Q(registration_closes_at__lte=F("check_in_opens_at"))
                & Q(check_in_opens_at__lt=F("check_in_closes_at")),
                name="tournaments_tournament_windows_in_order",
            ),
            models.CheckConstraint(
                condition=Q(prize_transfer__isnull=True) | Q(status=Status.COMPLETED),
                name="tournaments_tournament_prizes_when_completed",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="tournaments_tournament_legal_transition",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("status"),
                func=f"""
                IF TG_OP = 'INSERT' THEN
                    IF NEW.status <> 'draft' THEN
                        {_refuse("a tournament starts as a draft, not %", "NEW.status")}
                    END IF;
                    RETURN NEW;
                END IF;
                IF NEW.status IS DISTINCT FROM OLD.status AND NOT ({_legal(TRANSITIONS)}) THEN
                    {
                    _refuse(
                        "tournament %: % -> % is not a legal transition",
                        "OLD.id",
                        "OLD.status",
                        "NEW.status",
                    )
                }
                END IF;
                RETURN NEW;
                """,
            ),
            # Once registration opens, players pay and are seated on these terms.
            pgtrigger.Trigger(
                name="tournaments_tournament_terms_fixed",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=f"""
                IF TG_OP = 'DELETE' THEN
                    IF OLD.status <> 'draft' THEN
                        {
                    _refuse(
                        "tournament % is % (only drafts may be deleted)", "OLD.id", "OLD.status"
                    )
                }
                    END IF;
                    RETURN OLD;
                END IF;
                IF OLD.status = 'draft' THEN
                    RETURN NEW;
                END IF;
                IF (NEW.currency_id, NEW.entry_fee, NEW.capacity, NEW.waitlist_limit,
                    NEW.format, NEW.prize_table::jsonb)
                   IS DISTINCT FROM
                   (OLD.currency_id, OLD.entry_fee, OLD.capacity, OLD.waitlist_limit,
                    OLD.format, OLD.prize_table::jsonb) THEN
                    {
                    _refuse(
                        "tournament %: currency, fee, capacity, waitlist limit, format"
                        " and prizes are fixed once it leaves draft",
                        "OLD.id",
                    )
                }
                END IF;
                RETURN NEW;
                """,
            ),
            pgtrigger.Trigger(
                name="tournaments_tournament_counts_agree",
                when=pgtrigger.After,
                operation=pgtrigger.Insert
                | pgtrigger.UpdateOf("active_count", "waitlist_count", "capacity", "entry_fee"),
                timing=pgtrigger.Deferred,
                func=verify("NEW.id"),
            ),
            count_writes("tournaments_tournament_writes"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def seats_left(self) -> int:
        return self.capacity - self.active_count


class Registration(models.Model):
    tournament = models.ForeignKey(
        Tournament, on_delete=models.PROTECT, related_name="registrations"
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="tournament_registrations"
    )
    status = models.CharField(max_length=16, choices=RegistrationStatus.choices)
    waitlist_position = models.PositiveIntegerField(null=True, blank=True)
    seed = models.PositiveIntegerField(null=True, blank=True)
    placement = models.PositiveIntegerField(null=True, blank=True)
    fee_transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund_transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    status_changed_at = models.DateTimeField()
    checked_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Also the index behind a member's registration lookup (actions.register)
            # and the counting in tournaments_verify().
            models.UniqueConstraint(
                fields=["tournament", "member"],
                condition=Q(status__in=ACTIVE),
                name="tournaments_registration_one_active_per_member",
            ),
            # Also the waitlist in order (actions._fill_slots, queries.board).
            models.UniqueConstraint(
                fields=["tournament", "waitlist_position"],
                condition=Q(status=RegistrationStatus.WAITLISTED),
                name="tournaments_registration_waitlist_position_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RegistrationStatus.values),
                name="tournaments_registration_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(
                    status=RegistrationStatus.WAITLISTED,
                    waitlist_position__isnull=False,
                    waitlist_position__gte=1,
                )
                | (~Q(status=RegistrationStatus.WAITLISTED) & Q(waitlist_position__isnull=True)),
                name="tournaments_registration_position_iff_waitlisted",
            ),
            # Waitlisted players are charged on promotion, not before.
            models.CheckConstraint(
                condition=~Q(status=RegistrationStatus.WAITLISTED) | Q(fee_transfer__isnull=True),
                name="tournaments_registration_waitlisted_unpaid",
            ),
            models.CheckConstraint(
                condition=Q(refund_transfer__isnull=True)
                | Q(status=RegistrationStatus.WITHDRAWN, fee_transfer__isnull=False),
                name="tournaments_registration_refund_when_withdrawn",
            ),
            models.CheckConstraint(
                condition=~Q(status=RegistrationStatus.CHECKED_IN) | Q(checked_in_at__isnull=False),
                name="tournaments_registration_checked_in_at",
            ),
            models.CheckConstraint(
                condition=(Q(seed__isnull=True) | Q(seed__gte=1))
                & (Q(placement__isnull=True) | Q(placement__gte=1)),
                name="tournaments_registration_seed_placement_positive",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="tournaments_registration_legal_transition",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                func=f"""
                IF TG_OP = 'INSERT' THEN
                    IF NEW.status NOT IN ('registered', 'waitlisted') THEN
                        {
                    _refuse("a registration starts registered or waitlisted, not %", "NEW.status")
                }
                    END IF;
                    RETURN NEW;
                END IF;
                IF TG_OP = 'DELETE' THEN
                    -- The one deletion Concord makes: a waitlisted player who could not pay
                    -- when their promotion came (nothing of theirs remains).
                    IF OLD.status <> 'waitlisted' OR OLD.fee_transfer_id IS NOT NULL THEN
                        {
                    _refuse(
                        "registrations are kept: DELETE of registration % (%) refused",
                        "OLD.id",
                        "OLD.status",
                    )
                }
                    END IF;
                    RETURN OLD;
                END IF;
                IF (NEW.id, NEW.tournament_id, NEW.member_id, NEW.created_at)
                   IS DISTINCT FROM (OLD.id, OLD.tournament_id, OLD.member_id, OLD.created_at)
                THEN
                    {
                    _refuse(
                        "registration %: tournament, member and creation time are fixed", "OLD.id"
                    )
                }
                END IF;
                IF (OLD.fee_transfer_id IS NOT NULL
                    AND NEW.fee_transfer_id IS DISTINCT FROM OLD.fee_transfer_id)
                   OR (OLD.refund_transfer_id IS NOT NULL
                    AND NEW.refund_transfer_id IS DISTINCT FROM OLD.refund_transfer_id) THEN
                    {_refuse("registration %: its fee and refund are paid once", "OLD.id")}
                END IF;
                IF NEW.status IS DISTINCT FROM OLD.status
                   AND NOT ({_legal(REGISTRATION_TRANSITIONS)}) THEN
                    {
                    _refuse(
                        "registration %: % -> % is not a legal change",
                        "OLD.id",
                        "OLD.status",
                        "NEW.status",
                    )
                }
                END IF;
                RETURN NEW;
                """,
            ),
            pgtrigger.Trigger(
                name="tournaments_registration_counts_agree",
                when=pgtrigger.After,
                operation=pgtrigger.Insert
                | pgtrigger.Delete
                | pgtrigger.UpdateOf("status", "waitlist_position", "fee_transfer_id"),
                timing=pgtrigger.Deferred,
                func=verify("COALESCE(NEW.tournament_id, OLD.tournament_id)"),
            ),
            count_writes("tournaments_registration_writes"),
        ]

    def __str__(self) -> str:
        return f"registration {self.pk} of member {self.member_id} ({self.status})"

    @property
    def seated(self) -> bool:
        return self.status in SEATED


class Match(models.Model):
    """One game of the bracket. Single elimination: round r slot s feeds round r + 1 slot
    ceil(s / 2), as its home side if s is odd. A side left empty in round 1 is a bye."""

    tournament = models.ForeignKey(Tournament, on_delete=models.PROTECT, related_name="matches")
    round = models.PositiveIntegerField()
    slot = models.PositiveIntegerField()
    home = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    away = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    winner = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    score = models.CharField(max_length=32, blank=True)
    status = models.CharField(
        max_length=16, choices=MatchStatus.choices, default=MatchStatus.PENDING
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("record_result", "Can record a match result"),
        ]
        verbose_name_plural = "matches"
        constraints = [
            models.UniqueConstraint(
                fields=["tournament", "round", "slot"], name="tournaments_match_slot_unique"
            ),
            models.CheckConstraint(
                condition=Q(round__gte=1, slot__gte=1), name="tournaments_match_round_slot_positive"
            ),
            models.CheckConstraint(
                condition=Q(home__isnull=True) | Q(away__isnull=True) | ~Q(home=F("away")),
                name="tournaments_match_distinct_sides",
            ),
            models.CheckConstraint(
                condition=Q(winner__isnull=True) | Q(winner=F("home")) | Q(winner=F("away")),
                name="tournaments_match_winner_plays",
            ),
            # Also: the status is one of the four.
            models.CheckConstraint(
                condition=Q(
                    status=MatchStatus.PENDING,
                    winner__isnull=True,
                    decided_at__isnull=True,
                )
                & (Q(home__isnull=True) | Q(away__isnull=True))
                | Q(
                    status=MatchStatus.READY,
                    home__isnull=False,
                    away__isnull=False,
                    winner__isnull=True,
                    decided_at__isnull=True,
                )
                | Q(
                    status=MatchStatus.COMPLETED,
                    home__isnull=False,
                    away__isnull=False,
                    winner__isnull=False,
                    decided_at__isnull=False,
                )
                | Q(status=MatchStatus.BYE, winner__isnull=False, decided_at__isnull=False)
                & (Q(home__isnull=True) | Q(away__isnull=True)),
                name="tournaments_match_status_consistent",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="tournaments_match_same_tournament",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert
                | pgtrigger.UpdateOf("tournament_id", "home_id", "away_id", "winner_id"),
                func=f"""
                IF EXISTS (SELECT 1 FROM tournaments_registration r
                            WHERE r.id IN (NEW.home_id, NEW.away_id, NEW.winner_id)
                              AND (r.tournament_id <> NEW.tournament_id
                                   OR r.status <> 'checked_in')) THEN
                    {
                    _refuse(
                        "match %: its players are checked-in registrations of tournament %",
                        "NEW.id",
                        "NEW.tournament_id",
                    )
                }
                END IF;
                RETURN NEW;
                """,
            ),
            pgtrigger.Trigger(
                name="tournaments_match_decided_once",
                when=pgtrigger.Before,
                operation=pgtrigger.Update | pgtrigger.Delete,
                func=f"""
                IF TG_OP = 'DELETE' THEN
                    {_refuse("matches are kept: DELETE of match % refused", "OLD.id")}
                END IF;
                IF OLD.status IN ('completed', 'bye') THEN
                    {_refuse("match % is decided already", "OLD.id")}
                END IF;
                IF (NEW.tournament_id, NEW.round, NEW.slot) IS DISTINCT FROM
                   (OLD.tournament_id, OLD.round, OLD.slot)
                   OR (OLD.home_id IS NOT NULL AND NEW.home_id IS DISTINCT FROM OLD.home_id)
                   OR (OLD.away_id IS NOT NULL AND NEW.away_id IS DISTINCT FROM OLD.away_id) THEN
                    {
                    _refuse("match %: its place in the bracket and its players are fixed", "OLD.id")
                }
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"round {self.round} match {self.slot}"

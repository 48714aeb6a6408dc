"""Registering one member: the hot path. One read before the transaction (`read_open.sql`),
then under the tournament's lock one decision (`registration_outcome.sql`, the same SQL on
both databases) that seats or waitlists them: on PostgreSQL one statement that also
writes the counters and the event (`place.pg.sql`), on SQLite the ORM after `decide.sql`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

import events
from config.db import prepared_row
from events import log as event_log
from events.payloads import sql_object
from ledger.exceptions import InsufficientFunds
from ledger.models import Transfer
from tournaments import payloads, sql
from tournaments.actions.common import _as_datetime, _charge, _member_id, _pk, _subject
from tournaments.exceptions import (
    Disqualified,
    InvalidRequest,
    RegistrationClosed,
    TournamentFull,
)
from tournaments.models import ACTIVE, Registration, RegistrationStatus, Status, Tournament


class _LostSlot(Exception):
    """Charged early for a slot another registration took first: roll back, go again."""


@dataclass
class _Open:
    """What `register` reads before its transaction (one query, no lock)."""

    tournament_id: int
    name: str
    status: str
    opens: datetime
    closes: datetime
    fee: int
    capacity: int
    active: int
    currency: str
    existing: int | None
    disqualified: bool
    reserved: int | None  # a registration id drawn for this call (PostgreSQL)


# --- registration ids -----------------------------------------------------------------


_sequence: str | None = None


def _registration_sequence() -> str:
    global _sequence
    if _sequence is None:
        with connection.cursor() as cursor:
            cursor.execute(sql.statement("registration_sequence.pg"))
            _sequence = cursor.fetchone()[0]
    return _sequence


def _reserve_ids(count: int) -> list[int]:
    """`count` registration ids no other call will get: the fee's key names the
    registration, so the id is known before the row is written."""
    if count == 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                sql.statement("ids_reserve.pg"),
                {"sequence": _registration_sequence(), "count": count},
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(sql.statement("ids_reserved.sqlite"))
        row = cursor.fetchone()
        start = row[0] if row else 0
        then = "ids_reserve.sqlite" if row else "ids_reserve_first.sqlite"
        cursor.execute(sql.statement(then), {"last": start + count})
    return list(range(start + 1, start + count + 1))


# --- the read before the transaction --------------------------------------------------


def _prepared(statement: str, params: dict) -> tuple:
    """Registration is the hot path: its statements run prepared (`prepared_row`)."""
    return prepared_row(statement, params)


_READ_OPEN: str | None = None


def _read_open(tournament_id: int, member_id: int) -> _Open:
    global _READ_OPEN
    if _READ_OPEN is None:
        reserve = (
            sql.statement("reserve_id.pg", sequence=_registration_sequence())
            if connection.vendor == "postgresql"
            else "NULL"
        )
        active = ", ".join(f"'{status}'" for status in ACTIVE)
        _READ_OPEN = sql.statement("read_open", reserve=reserve, active=active)
    row = _prepared(_READ_OPEN, {"member": member_id, "tournament": tournament_id})
    if row is None:
        raise InvalidRequest(f"no tournament {tournament_id}")
    row = list(row)
    for n in (3, 4):
        row[n] = _as_datetime(row[n])
    return _Open(*row)


def closed_because(status: str, opens: datetime, closes: datetime, now: datetime) -> str | None:
    """Why a tournament in `status` with this window takes no registration at `now`."""
    if status != Status.REGISTRATION:
        return f"the tournament is {Status(status).label.lower()}"
    if now < opens:
        return f"registration opens at {opens:%Y-%m-%d %H:%M} UTC"
    if now >= closes:
        return f"registration closed at {closes:%Y-%m-%d %H:%M} UTC"
    return None


# --- registering ----------------------------------------------------------------------


def register(tournament, member, *, actor=None) -> Registration:
    """Register `member`: a slot while registered + checked in is below the capacity,
    else the next waitlist position (`TournamentFull` when there is no waitlist or it is
    full). A slot is paid for with the entry fee, in the same transaction
    (`InsufficientFunds` writes nothing); the waitlist is charged on promotion.

    Registering again returns the registration the member has (`created=False`). The
    returned registration has `created` and `event` (the `tournament.registered` or
    `tournament.waitlisted` event; None for a repeat).

    Concurrency: the tournament's row lock decides slots and positions, one registration
    at a time. To keep that turn short, on PostgreSQL a registration that will probably
    get a slot (one was free when it looked) pays its fee *before* taking the lock (the
    fee's key names the registration id drawn for it); if the slot has gone meanwhile the
    transaction rolls back, charge included, and it registers again without paying early.
    That early charge locks the member's wallet before the tournament: safe, as a wallet
    is locked after a tournament only for members registered or waitlisted in it, and a
    member registering has neither (if a duplicate call raced this one onto the waitlist
    and a promotion met it, PostgreSQL's deadlock detection ends one side, and the
    retry answers with the registration)."""
    tournament_id, member_id = _pk(tournament, "tournament"), _member_id(member)
    pay_early = connection.vendor == "postgresql"
    for _ in range(3):
        seen = _read_open(tournament_id, member_id)
        if seen.existing is not None:
            return _repeat(seen.existing)
        if seen.disqualified:
            raise Disqualified(
                f"member {member_id} was disqualified from tournament {tournament_id}"
            )
        reason = closed_because(seen.status, seen.opens, seen.closes, timezone.now())
        if reason:
            raise RegistrationClosed(f"tournament {tournament_id} is not open: {reason}")
        early = pay_early and seen.fee > 0 and seen.active < seen.capacity
        try:
            return _register(seen, member_id, pay_early=early, actor=actor)
        except _LostSlot:
            pay_early = False
        except IntegrityError:
            # A concurrent call registered this member first (the unique constraint
            # waited for its commit): answer with that registration.
            existing = _active_registration(tournament_id, member_id)
            if existing is None:
                raise
            return _repeat(existing)
        except DatabaseError as error:
            if getattr(error.__cause__, "sqlstate", None) != "40P01":  # deadlock detected
                raise
            pay_early = False
    raise DatabaseError(f"registration of member {member_id} kept losing races; try again")


def _active_registration(tournament_id: int, member_id: int) -> int | None:
    return (
        Registration.objects.filter(
            tournament_id=tournament_id, member_id=member_id, status__in=ACTIVE
        )
        .values_list("pk", flat=True)
        .first()
    )


def _repeat(registration_id: int) -> Registration:
    registration = Registration.objects.get(pk=registration_id)
    registration.created, registration.event = False, None
    return registration


def _register(seen: _Open, member_id: int, *, pay_early: bool, actor) -> Registration:
    def charge(registration_id: int) -> Transfer:
        return _charge(
            seen.tournament_id,
            seen.name,
            seen.currency,
            seen.fee,
            member_id,
            registration_id,
            actor,
        )

    with transaction.atomic():
        registration_id = seen.reserved or _reserve_ids(1)[0]
        paid, short = None, None
        if pay_early:
            try:
                paid = charge(registration_id)
            except InsufficientFunds as error:
                short = error  # raised only if a slot is free for them (else waitlisted)
        placed = _place(seen.tournament_id, member_id, registration_id, paid, actor)
        if placed.outcome == "unpaid":  # a slot is free, we hold the lock, unpaid yet
            if short is not None:
                raise short
            paid = charge(registration_id)
            placed = _place(seen.tournament_id, member_id, registration_id, paid, actor)
        if placed.outcome == "closed":
            raise RegistrationClosed(f"tournament {seen.tournament_id} is not open any more")
        if placed.outcome == "full":
            raise TournamentFull(
                f"tournament {seen.tournament_id} is full and takes no more on its waitlist"
            )
        if placed.outcome == RegistrationStatus.WAITLISTED and paid is not None:
            raise _LostSlot()
        return placed.registration


@dataclass
class _Placed:
    outcome: str  # registered | waitlisted | unpaid | closed | full
    registration: Registration | None = None


# --- placing: seat or waitlist, under the tournament's lock ---------------------------

# `registration_outcome.sql` with its parameters typed for each database.
_OUTCOME_PG = sql.statement(
    "registration_outcome", now="%(now)s::timestamptz", paid="%(paid)s::bigint"
)
_OUTCOME_SQLITE = sql.statement("registration_outcome", now="%(now)s", paid="%(paid)s")

# The event's data (`tournaments.payloads.Registered`), from `place.pg.sql`'s
# `registration` (r) and `counters` (c): the same keys as `payloads.registered` gives SQLite.
_REGISTERED = sql_object(
    payloads.Registered,
    tournament_id="%(tournament)s::bigint",
    registration_id="r.id",
    member_id="%(member)s::bigint",
    status="r.status",
    waitlist_position="r.waitlist_position",
    transfer_id="r.fee_transfer_id",
    fee="CASE WHEN r.fee_transfer_id IS NOT NULL THEN c.entry_fee ELSE 0 END",
    active_count="c.active_count",
    waitlist_count="c.waitlist_count",
    capacity="c.capacity",
)

_PLACE = sql.statement(
    "place.pg",
    outcome=_OUTCOME_PG,
    event_columns=event_log.INSERT_COLUMNS,
    registered=_REGISTERED,
)
_DECIDE = sql.statement("decide", outcome=_OUTCOME_SQLITE)


def _place(tournament_id: int, member_id: int, registration_id: int, paid, actor) -> _Placed:
    """Seat or waitlist the registration under the tournament's lock (taken here, held to
    commit), or say why not (`unpaid`: a slot is free but the fee is not paid yet)."""
    now = timezone.now()
    registration = Registration(
        id=registration_id,
        tournament_id=tournament_id,
        member_id=member_id,
        created_at=now,
        status_changed_at=now,
    )
    paid_id = paid.pk if paid is not None else None
    placing = _place_postgresql if connection.vendor == "postgresql" else _place_sqlite
    outcome, event = placing(registration, paid_id, actor)
    if event is None:
        return _Placed(outcome)
    registration.created, registration.event = True, event
    return _Placed(outcome, registration)


def _placed_as(registration: Registration, outcome: str, position, paid_id) -> None:
    """Give the registration what placing it wrote (a seat holds the fee, a waitlisted
    registration a position)."""
    registration.status = outcome
    registration.waitlist_position = position
    registration.fee_transfer_id = paid_id if outcome == RegistrationStatus.REGISTERED else None


def _place_postgresql(registration: Registration, paid_id, actor) -> tuple:
    """(outcome, event; None unless placed), by `place.pg.sql`, which writes the row."""
    actor_id = actor.pk if actor is not None else None
    now = registration.created_at
    outcome, row_id, position, seq, data = _prepared(
        _PLACE,
        {
            "tournament": registration.tournament_id,
            "member": registration.member_id,
            "id": registration.id,
            "paid": paid_id,
            "now": now,
            "actor": actor_id,
        },
    )
    if row_id is None:
        return outcome, None
    _placed_as(registration, outcome, position, paid_id)
    registration._state.adding, registration._state.db = False, connection.alias
    event = event_log.adopt(
        seq=seq,
        kind=f"tournament.{outcome}",
        actor_id=actor_id,
        subject=_subject(registration.tournament_id),
        data=json.loads(data),
        created_at=now,
    )
    return outcome, event


def _place_sqlite(registration: Registration, paid_id, actor) -> tuple:
    """(outcome, event; None unless placed): `decide.sql`, then the registration, the
    counters and the event through the ORM."""
    tournament_id = registration.tournament_id
    row = _prepared(
        _DECIDE,
        {
            "tournament": tournament_id,
            "now": connection.ops.adapt_datetimefield_value(registration.created_at),
            "paid": paid_id,
        },
    )
    if row is None:
        raise Tournament.DoesNotExist("Tournament matching query does not exist.")
    outcome, capacity, active, waiting, fee = row
    if outcome not in (RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED):
        return outcome, None
    seated = outcome == RegistrationStatus.REGISTERED
    _placed_as(registration, outcome, None if seated else waiting + 1, paid_id)
    registration.save(force_insert=True)
    active += int(seated)
    waiting += int(not seated)
    Tournament.objects.filter(pk=tournament_id).update(active_count=active, waitlist_count=waiting)
    event = events.publish(
        f"tournament.{outcome}",
        payloads.registered(
            tournament_id=tournament_id,
            registration_id=registration.id,
            member_id=registration.member_id,
            status=outcome,
            waitlist_position=registration.waitlist_position,
            transfer_id=registration.fee_transfer_id,
            fee=fee if seated and paid_id else 0,
            active_count=active,
            waitlist_count=waiting,
            capacity=capacity,
        ),
        actor=actor,
        subject=_subject(tournament_id),
    )
    return outcome, event

"""Every write to tournaments, registrations and matches goes through here.

Each action validates its arguments before touching a row, takes the tournament's row lock
(`FOR NO KEY UPDATE`; check-in takes `FOR SHARE`) before reading or writing its
registrations, writes in one transaction, publishes its events in it (`tournament.*`, each
with `tournament_id` in its data, subject `tournament:<id>`), and on any refusal leaves the
database as it was. Locks are taken tournament first, then registrations, then wallets
(inside the ledger's actions); the one exception is `register`'s early fee charge, see
there.

Money moves through `ledger.actions` with keys Concord derives (reserved prefix
`tournament:`): the entry fee `tournament:<t>:fee:<registration>` (a purchase into the
system account `sink:tournament-<t>`), its refund `tournament:<t>:refund:<registration>`
(the reversal of the fee) and the prizes `tournament:<t>:prizes` (one `award_many`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

import events
from events import actions as event_log
from events.models import Event
from events.payloads import sql_object
from ledger import actions as ledger
from ledger.exceptions import InsufficientFunds
from ledger.models import Account, Currency, Transfer, TransferKind
from ledger.posting import MAX_AMOUNT, Leg, Ref, SystemKey, open_accounts, prepared_row
from tournaments import brackets, payloads
from tournaments.exceptions import (
    BracketError,
    Disqualified,
    IllegalTransition,
    InvalidRequest,
    InvalidResult,
    InvalidTournament,
    NotCheckInTime,
    NotFinished,
    NotRegistered,
    RegistrationClosed,
    TournamentFull,
    TournamentStarted,
)
from tournaments.models import (
    ACTIVE,
    DECIDED,
    SEATED,
    TRANSITIONS,
    Format,
    Match,
    MatchStatus,
    Registration,
    RegistrationStatus,
    Status,
    Tournament,
)

NAME_MAX = Tournament._meta.get_field("name").max_length
GAME_MAX = Tournament._meta.get_field("game").max_length
SCORE_MAX = Match._meta.get_field("score").max_length
MAX_CAPACITY = 100_000
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --- keys and names -----------------------------------------------------------------


def fee_key(tournament_id: int, registration_id: int) -> SystemKey:
    return SystemKey(f"tournament:{tournament_id}:fee:{registration_id}")


def refund_key(tournament_id: int, registration_id: int) -> SystemKey:
    return SystemKey(f"tournament:{tournament_id}:refund:{registration_id}")


def prizes_key(tournament_id: int) -> SystemKey:
    return SystemKey(f"tournament:{tournament_id}:prizes")


def fee_sink(tournament_id: int) -> str:
    """The system account entry fees are paid into (`sink:tournament-<id>`)."""
    return f"tournament-{tournament_id}"


def _subject(tournament_id: int) -> str:
    return f"tournament:{tournament_id}"


def _publish(kind: str, data, actor) -> None:
    """Publish `kind` with `data` (built by `tournaments.payloads`: it names the tournament)."""
    events.publish(kind, data, actor=actor, subject=_subject(data["tournament_id"]))


def _pk(obj, what: str) -> int:
    pk = obj if type(obj) is int else getattr(obj, "pk", None)
    if type(pk) is not int:
        raise InvalidRequest(f"{obj!r} is not a saved {what}")
    return pk


# --- creating and changing a tournament ---------------------------------------------


@dataclass(frozen=True)
class Terms:
    """A tournament's settings, validated and normalized; nothing written yet."""

    name: str
    game: str
    currency_id: int
    entry_fee: int
    capacity: int
    waitlist_limit: int | None
    format: str
    registration_opens_at: datetime
    registration_closes_at: datetime
    check_in_opens_at: datetime
    check_in_closes_at: datetime
    prize_table: dict[str, int]


def _text(value, what: str, limit: int, *, blank: bool, error=InvalidTournament) -> str:
    if not isinstance(value, str):
        raise error(f"{what} is text, not {type(value).__name__}")
    value = value.strip()
    if not value and not blank:
        raise error(f"a tournament needs a {what}")
    if len(value) > limit:
        raise error(f"{what} has at most {limit} characters")
    if _CONTROL_CHARACTERS.search(value):
        raise error(f"{what} contains control characters")
    return value


def _whole(value, what: str, *, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidTournament(f"{what} is a whole number from {low} to {high}, not {value!r}")
    return value


def _moment(value, what: str) -> datetime:
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise InvalidTournament(f"{what} is an aware datetime")
    return value


def prize_table_of(table) -> dict[str, int]:
    """{placement: amount} with placements 1, 2, ... as strings and positive amounts,
    in placement order. Placements may be given as ints or digit strings."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise InvalidTournament("the prize table maps placements to amounts")
    prizes: dict[int, int] = {}
    for place, amount in table.items():
        if type(place) is int:
            number = place
        elif isinstance(place, str) and place.strip().isdigit():
            number = int(place.strip())
        else:
            raise InvalidTournament(f"prize placement {place!r} is not a whole number")
        if number < 1 or number > MAX_CAPACITY:
            raise InvalidTournament(f"prize placement {number} is not from 1 to {MAX_CAPACITY}")
        if number in prizes:
            raise InvalidTournament(f"prize placement {number} is given twice")
        if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
            raise InvalidTournament(
                f"the prize for placement {number} is a positive whole amount, not {amount!r}"
            )
        prizes[number] = amount
    return {str(place): prizes[place] for place in sorted(prizes)}


def validate_terms(
    *,
    name,
    game="",
    currency="points",
    entry_fee=0,
    capacity,
    waitlist_limit=None,
    format=Format.SINGLE_ELIMINATION,
    registration_opens_at,
    registration_closes_at,
    check_in_opens_at,
    check_in_closes_at,
    prize_table=None,
) -> Terms:
    """Check a tournament's settings without writing: the errors create_tournament raises."""
    code = getattr(currency, "code", currency)
    currency_id = (
        Currency.objects.filter(code=code).values_list("pk", flat=True).first()
        if isinstance(code, str)
        else None
    )
    if currency_id is None:
        raise InvalidTournament(f"no currency {code!r}")
    if format not in Format.values:
        raise InvalidTournament(
            f"unknown format {format!r} (expected one of {', '.join(Format.values)})"
        )
    terms = Terms(
        name=_text(name, "name", NAME_MAX, blank=False),
        game=_text(game or "", "game", GAME_MAX, blank=True),
        currency_id=currency_id,
        entry_fee=_whole(entry_fee, "the entry fee", low=0, high=MAX_AMOUNT),
        capacity=_whole(capacity, "the capacity", low=2, high=MAX_CAPACITY),
        waitlist_limit=None
        if waitlist_limit is None
        else _whole(waitlist_limit, "the waitlist limit", low=0, high=MAX_CAPACITY),
        format=str(format),
        registration_opens_at=_moment(registration_opens_at, "registration_opens_at"),
        registration_closes_at=_moment(registration_closes_at, "registration_closes_at"),
        check_in_opens_at=_moment(check_in_opens_at, "check_in_opens_at"),
        check_in_closes_at=_moment(check_in_closes_at, "check_in_closes_at"),
        prize_table=prize_table_of(prize_table),
    )
    if not (
        terms.registration_opens_at
        < terms.registration_closes_at
        <= terms.check_in_opens_at
        < terms.check_in_closes_at
    ):
        raise InvalidTournament(
            "the windows must run in order: registration opens < registration closes"
            " <= check-in opens < check-in closes"
        )
    return terms


TERMS = [field for field in Terms.__dataclass_fields__ if field != "currency_id"] + ["currency"]


@transaction.atomic
def create_tournament(*, actor=None, **settings) -> Tournament:
    """A new tournament, as a draft (`open_registration` opens it)."""
    terms = validate_terms(**settings)
    tournament = Tournament.objects.create(**terms.__dict__, status_changed_at=timezone.now())
    _publish(
        "tournament.created",
        payloads.created(
            tournament_id=tournament.pk,
            name=tournament.name,
            game=tournament.game,
            status=tournament.status,
            format=tournament.format,
            capacity=tournament.capacity,
            entry_fee=tournament.entry_fee,
        ),
        actor,
    )
    return tournament


@transaction.atomic
def update_tournament(tournament, *, actor=None, **changes) -> Tournament:
    """Change a draft's settings (the database fixes them once registration opens)."""
    unknown = set(changes) - set(TERMS)
    if unknown:
        raise InvalidTournament(f"cannot change {', '.join(sorted(unknown))}")
    locked = _lock(tournament)
    if locked.status != Status.DRAFT:
        raise IllegalTransition(locked.pk, locked.status, "edited (only drafts are)")
    current = {name: getattr(locked, name) for name in TERMS if name != "currency"}
    current["currency"] = locked.currency.code
    terms = validate_terms(**{**current, **changes})
    changed = {
        name: value for name, value in terms.__dict__.items() if getattr(locked, name) != value
    }
    if not changed:
        return locked
    for name, value in changed.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(changed))
    _publish(
        "tournament.updated",
        payloads.updated(tournament_id=locked.pk, changed=sorted(changed)),
        actor,
    )
    return locked


# --- locks and status changes --------------------------------------------------------


def _lock(tournament) -> Tournament:
    """The tournament row, locked FOR NO KEY UPDATE (inserting registrations and matches
    that reference it takes FOR KEY SHARE, which this does not block)."""
    pk = _pk(tournament, "tournament")
    locked = (
        Tournament.objects.select_for_update(no_key=True, of=("self",))
        .select_related("currency")
        .filter(pk=pk)
        .first()
    )
    if locked is None:
        raise InvalidRequest(f"no tournament {pk}")
    return locked


def _transition(locked: Tournament, to: str, *, actor, now=None, fields=None, **details) -> None:
    """Move the status on (and write `fields` in the same UPDATE), publish
    `tournament.status_changed` with `details` (`payloads.StatusDetails`)."""
    if to not in TRANSITIONS.get(locked.status, ()):
        raise IllegalTransition(locked.pk, locked.status, to)
    before, now = locked.status, now or timezone.now()
    locked.status, locked.status_changed_at = to, now
    Tournament.objects.filter(pk=locked.pk).update(
        status=to, status_changed_at=now, **(fields or {})
    )
    _publish(
        "tournament.status_changed",
        payloads.status_changed(tournament_id=locked.pk, before=before, to=to, details=details),
        actor,
    )


@transaction.atomic
def open_registration(tournament, *, actor=None) -> Tournament:
    """draft -> registration. Registrations are taken within the registration window."""
    locked = _lock(tournament)
    if locked.status == Status.REGISTRATION:
        return locked
    _transition(locked, Status.REGISTRATION, actor=actor)
    # The fee account exists before the first fee: opening it inside a registration that
    # holds the tournament's lock could wait on another opening it (a deadlock).
    open_accounts(locked.currency_id, [Leg(None, ledger.sink_account(fee_sink(locked.pk)), 0)])
    return locked


@transaction.atomic
def open_check_in(tournament, *, actor=None) -> Tournament:
    """registration -> check_in: registration ends, registered players may check in."""
    locked = _lock(tournament)
    if locked.status == Status.CHECK_IN:
        return locked
    _transition(locked, Status.CHECK_IN, actor=actor)
    return locked


# --- registering --------------------------------------------------------------------


def _member_id(member) -> int:
    return _pk(member, "member")


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


_REG = Registration._meta.db_table
_TOUR = Tournament._meta.db_table
_sequence: str | None = None


def _registration_sequence() -> str:
    global _sequence
    if _sequence is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [_REG])
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
                "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                [_registration_sequence(), count],
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite: writers are serial (immediate transactions); AUTOINCREMENT keeps the
        # highest id ever used in sqlite_sequence, and moving it on reserves the ids.
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [_REG])
        row = cursor.fetchone()
        start = row[0] if row else 0
        if row:
            cursor.execute(
                "UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [start + count, _REG]
            )
        else:
            cursor.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [_REG, start + count]
            )
    return list(range(start + 1, start + count + 1))


def _prepared(sql: str, params: dict) -> tuple:
    """Registration is the hot path: its statements run prepared (`prepared_row`)."""
    return prepared_row(sql, params)


_READ_OPEN: str | None = None


def _read_open(tournament_id: int, member_id: int) -> _Open:
    global _READ_OPEN
    if _READ_OPEN is None:
        reserve = (
            f"CASE WHEN r.id IS NULL AND t.status = 'registration'"
            f" THEN nextval('{_registration_sequence()}'::regclass) END"
            if connection.vendor == "postgresql"
            else "NULL"
        )
        _READ_OPEN = (
            f"SELECT t.id, t.name, t.status, t.registration_opens_at, t.registration_closes_at,"
            f" t.entry_fee, t.capacity, t.active_count, c.code, r.id,"
            f" EXISTS (SELECT 1 FROM {_REG} d WHERE d.tournament_id = t.id"
            f" AND d.member_id = %(member)s AND d.status = 'disqualified'), {reserve}"
            f" FROM {_TOUR} t JOIN {Currency._meta.db_table} c ON c.id = t.currency_id"
            f" LEFT JOIN {_REG} r ON r.tournament_id = t.id AND r.member_id = %(member)s"
            f" AND r.status IN ('registered', 'checked_in', 'waitlisted')"
            " WHERE t.id = %(tournament)s"
        )
    row = _prepared(_READ_OPEN, {"member": member_id, "tournament": tournament_id})
    if row is None:
        raise InvalidRequest(f"no tournament {tournament_id}")
    row = list(row)
    for n in (3, 4):
        row[n] = _as_datetime(row[n])
    return _Open(*row)


def _as_datetime(value):
    """A timestamp as raw SQL returns it (SQLite: text) as an aware datetime."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)
    return connection.ops.convert_datetimefield_value(value, None, connection)


def closed_because(status: str, opens: datetime, closes: datetime, now: datetime) -> str | None:
    """Why a tournament in `status` with this window takes no registration at `now`."""
    if status != Status.REGISTRATION:
        return f"the tournament is {Status(status).label.lower()}"
    if now < opens:
        return f"registration opens at {opens:%Y-%m-%d %H:%M} UTC"
    if now >= closes:
        return f"registration closed at {closes:%Y-%m-%d %H:%M} UTC"
    return None


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


def _charge(
    tournament_id: int, name: str, currency: str, fee: int, member_id, registration_id, actor
) -> Transfer:
    return ledger.spend(
        Ref(member_id),
        fee,
        currency=currency,
        kind=TransferKind.PURCHASE,
        sink=fee_sink(tournament_id),
        reason=f"Entry fee: {name}"[:255],
        idempotency_key=fee_key(tournament_id, registration_id),
        actor=actor,
        context={"tournament_id": tournament_id, "registration_id": registration_id},
    )


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


def decide(*, status, now, opens, closes, capacity, active, waitlisted, limit, fee, paid) -> str:
    """Where a new registration goes. `_PLACE` (PostgreSQL) says the same in SQL."""
    if status != Status.REGISTRATION or now < opens or now >= closes:
        return "closed"
    if active < capacity:
        return RegistrationStatus.REGISTERED if fee == 0 or paid else "unpaid"
    if limit is None or waitlisted < limit:
        return RegistrationStatus.WAITLISTED
    return "full"


# The event's data (`tournaments.payloads.Registered`), from `_PLACE`'s `registration` (r)
# and `counters` (c): the same keys as `payloads.registered` gives SQLite.
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

# One statement (one round trip inside the lock): lock the tournament, decide, write the
# registration, the counters and the event. The lock is the first thing it does, and the
# decision reads the row as locked (READ COMMITTED hands a waiting lock the latest row).
_PLACE = f"""
WITH t AS (
    SELECT id, status, capacity, active_count, waitlist_count, waitlist_limit, entry_fee,
           registration_opens_at, registration_closes_at
      FROM {_TOUR} WHERE id = %(tournament)s::bigint FOR NO KEY UPDATE
), decision AS (
    SELECT t.*, CASE
        WHEN t.status <> 'registration' OR %(now)s::timestamptz < t.registration_opens_at
             OR %(now)s::timestamptz >= t.registration_closes_at THEN 'closed'
        WHEN t.active_count < t.capacity AND (t.entry_fee = 0 OR %(paid)s::bigint IS NOT NULL)
             THEN 'registered'
        WHEN t.active_count < t.capacity THEN 'unpaid'
        WHEN t.waitlist_limit IS NULL OR t.waitlist_count < t.waitlist_limit THEN 'waitlisted'
        ELSE 'full' END AS outcome
      FROM t
), registration AS (
    INSERT INTO {_REG} (id, tournament_id, member_id, status, waitlist_position,
                        fee_transfer_id, created_at, status_changed_at)
    SELECT %(id)s::bigint, d.id, %(member)s::bigint, d.outcome,
           CASE WHEN d.outcome = 'waitlisted' THEN d.waitlist_count + 1 END,
           CASE WHEN d.outcome = 'registered' THEN %(paid)s::bigint END,
           %(now)s::timestamptz, %(now)s::timestamptz
      FROM decision d WHERE d.outcome IN ('registered', 'waitlisted')
    RETURNING id, status, waitlist_position, fee_transfer_id
), counters AS (
    UPDATE {_TOUR} tt
       SET active_count = tt.active_count + CASE WHEN r.status = 'registered' THEN 1 ELSE 0 END,
           waitlist_count = tt.waitlist_count
                            + CASE WHEN r.status = 'waitlisted' THEN 1 ELSE 0 END
      FROM registration r WHERE tt.id = %(tournament)s::bigint
    RETURNING tt.active_count, tt.waitlist_count, tt.capacity, tt.entry_fee
), event AS (
    INSERT INTO {Event._meta.db_table} ({event_log.INSERT_COLUMNS})
    SELECT 'tournament.' || r.status, %(actor)s::bigint, 'tournament:' || %(tournament)s::bigint,
           {_REGISTERED},
           %(now)s::timestamptz
      FROM registration r, counters c
    RETURNING seq, data::text
)
SELECT d.outcome, r.id, r.waitlist_position, e.seq, e.data
  FROM decision d LEFT JOIN registration r ON true LEFT JOIN event e ON true
"""
_PLACE = " ".join(_PLACE.split())


def _place(tournament_id: int, member_id: int, registration_id: int, paid, actor) -> _Placed:
    """Seat or waitlist the registration under the tournament's lock (taken here, held to
    commit), or say why not (`unpaid`: a slot is free but the fee is not paid yet)."""
    now = timezone.now()
    paid_id = paid.pk if paid is not None else None
    actor_id = actor.pk if actor is not None else None
    if connection.vendor == "postgresql":
        outcome, row_id, position, seq, data = _prepared(
            _PLACE,
            {
                "tournament": tournament_id,
                "member": member_id,
                "id": registration_id,
                "paid": paid_id,
                "now": now,
                "actor": actor_id,
            },
        )
        if row_id is None:
            return _Placed(outcome)
        data = json.loads(data)
        event = event_log.adopt(
            seq=seq,
            kind=f"tournament.{outcome}",
            actor_id=actor_id,
            subject=_subject(tournament_id),
            data=data,
            created_at=now,
        )
    else:
        t = Tournament.objects.get(pk=tournament_id)  # immediate transactions: serial
        outcome = decide(
            status=t.status,
            now=now,
            opens=t.registration_opens_at,
            closes=t.registration_closes_at,
            capacity=t.capacity,
            active=t.active_count,
            waitlisted=t.waitlist_count,
            limit=t.waitlist_limit,
            fee=t.entry_fee,
            paid=paid_id,
        )
        if outcome not in (RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED):
            return _Placed(outcome)
        seated = outcome == RegistrationStatus.REGISTERED
        position = None if seated else t.waitlist_count + 1
        Registration.objects.create(
            id=registration_id,
            tournament_id=tournament_id,
            member_id=member_id,
            status=outcome,
            waitlist_position=position,
            fee_transfer_id=paid_id if seated else None,
            created_at=now,
            status_changed_at=now,
        )
        t.active_count += int(seated)
        t.waitlist_count += int(not seated)
        Tournament.objects.filter(pk=tournament_id).update(
            active_count=t.active_count, waitlist_count=t.waitlist_count
        )
        event = events.publish(
            f"tournament.{outcome}",
            payloads.registered(
                tournament_id=tournament_id,
                registration_id=registration_id,
                member_id=member_id,
                status=outcome,
                waitlist_position=position,
                transfer_id=paid_id if seated else None,
                fee=t.entry_fee if seated and paid_id else 0,
                active_count=t.active_count,
                waitlist_count=t.waitlist_count,
                capacity=t.capacity,
            ),
            actor=actor,
            subject=_subject(tournament_id),
        )
    registration = Registration(
        id=registration_id,
        tournament_id=tournament_id,
        member_id=member_id,
        status=outcome,
        waitlist_position=position,
        fee_transfer_id=paid_id if outcome == RegistrationStatus.REGISTERED else None,
        created_at=now,
        status_changed_at=now,
    )
    registration._state.adding, registration._state.db = False, connection.alias
    registration.created, registration.event = True, event
    return _Placed(outcome, registration)


@dataclass
class BatchOutcome:
    member_id: int
    outcome: str  # registered | waitlisted | already | short | full | disqualified
    registration: Registration | None = None
    reason: str = ""


def register_many(tournament, members, *, actor=None, skip_refused: bool = False):
    """Register `members` in the order given, as `register` would one after another, in
    one transaction holding the tournament's lock (imports: rows are written in bulk, one
    counter update, one `tournament.registered_many` event; fees are still one transfer
    per slot). A member already registered (or given twice) is `already`.

    A member who cannot pay for a free slot raises `InsufficientFunds`, a full tournament
    `TournamentFull`, a disqualified member `Disqualified`, all writing nothing; with
    `skip_refused` they are answered `short`, `full` or `disqualified` and the rest go
    on. Returns a `BatchOutcome` per member, in order."""
    member_ids = [_member_id(member) for member in members]
    with transaction.atomic():
        locked = _lock(tournament)
        now = timezone.now()
        reason = closed_because(
            locked.status, locked.registration_opens_at, locked.registration_closes_at, now
        )
        if reason:
            raise RegistrationClosed(f"tournament {locked.pk} is not open: {reason}")
        active: dict[int, int] = {}
        unique = list(dict.fromkeys(member_ids))
        for start in range(0, len(unique), 5000):
            active.update(
                Registration.objects.filter(
                    tournament=locked, member_id__in=unique[start : start + 5000], status__in=ACTIVE
                ).values_list("member_id", "pk")
            )
        barred: set[int] = set()
        for start in range(0, len(unique), 5000):
            barred.update(
                Registration.objects.filter(
                    tournament=locked,
                    member_id__in=unique[start : start + 5000],
                    status=RegistrationStatus.DISQUALIFIED,
                ).values_list("member_id", flat=True)
            )
        fresh = [m for m in unique if m not in active and m not in barred]
        ids = iter(_reserve_ids(len(fresh)))
        outcomes: list[BatchOutcome] = []
        rows: list[Registration] = []
        done: dict[int, Registration] = {}
        seats = locked.capacity - locked.active_count
        waiting = locked.waitlist_count
        for member_id in member_ids:
            if member_id in active or member_id in done:
                outcomes.append(BatchOutcome(member_id, "already", done.get(member_id)))
                continue
            if member_id in barred:
                if not skip_refused:
                    raise Disqualified(
                        f"member {member_id} was disqualified from tournament {locked.pk}"
                    )
                reason = "disqualified from this tournament"
                outcomes.append(BatchOutcome(member_id, "disqualified", reason=reason))
                continue
            registration = Registration(
                tournament_id=locked.pk,
                member_id=member_id,
                created_at=now,
                status_changed_at=now,
            )
            if seats > 0:
                registration.id = next(ids)
                if locked.entry_fee:
                    try:
                        paid = _charge(
                            locked.pk,
                            locked.name,
                            locked.currency.code,
                            locked.entry_fee,
                            member_id,
                            registration.id,
                            actor,
                        )
                    except InsufficientFunds as error:
                        if not skip_refused:
                            raise
                        outcomes.append(BatchOutcome(member_id, "short", reason=str(error)))
                        continue
                    registration.fee_transfer_id = paid.pk
                registration.status = RegistrationStatus.REGISTERED
                seats -= 1
            elif locked.waitlist_limit is None or waiting < locked.waitlist_limit:
                registration.id = next(ids)
                waiting += 1
                registration.status = RegistrationStatus.WAITLISTED
                registration.waitlist_position = waiting
            else:
                if not skip_refused:
                    raise TournamentFull(
                        f"tournament {locked.pk} is full and takes no more on its waitlist"
                    )
                outcomes.append(BatchOutcome(member_id, "full", reason="the tournament is full"))
                continue
            rows.append(registration)
            done[member_id] = registration
            outcomes.append(BatchOutcome(member_id, registration.status, registration))
        Registration.objects.bulk_create(rows, batch_size=2000)
        seated = sum(1 for r in rows if r.status == RegistrationStatus.REGISTERED)
        locked.active_count += seated
        locked.waitlist_count = waiting
        Tournament.objects.filter(pk=locked.pk).update(
            active_count=locked.active_count, waitlist_count=locked.waitlist_count
        )
        for registration in rows:
            registration.created, registration.event = True, None
        if rows:
            _publish(
                "tournament.registered_many",
                payloads.registered_many(
                    tournament_id=locked.pk,
                    registered=seated,
                    waitlisted=len(rows) - seated,
                    counted=_counts(locked),
                ),
                actor,
            )
    return outcomes


# --- leaving, and filling the slots left ---------------------------------------------


def _locked_registration(registration) -> tuple[Tournament, Registration]:
    """The registration's tournament (locked) and the registration (locked after it)."""
    pk = _pk(registration, "registration")
    tournament_id = (
        Registration.objects.filter(pk=pk).values_list("tournament_id", flat=True).first()
    )
    if tournament_id is None:
        raise InvalidRequest(f"no registration {pk}")
    locked = _lock(tournament_id)
    return locked, Registration.objects.select_for_update().get(pk=pk)


def _save_counts(locked: Tournament) -> None:
    Tournament.objects.filter(pk=locked.pk).update(
        active_count=locked.active_count, waitlist_count=locked.waitlist_count
    )


def _counts(locked: Tournament) -> payloads.Counts:
    return payloads.counts(
        active_count=locked.active_count,
        waitlist_count=locked.waitlist_count,
        capacity=locked.capacity,
    )


def _close_waitlist_gaps(locked: Tournament, longest: int) -> None:
    """Number the waitlist 1..n again, in its order, after rows left it. `longest` is at
    least the highest position before they left. Two statements so that no row ever
    takes a position another still holds (the unique index is checked row by row):
    first everyone moves above `longest`, then each takes its rank."""
    if locked.waitlist_count == 0:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_REG} SET waitlist_position = waitlist_position + %s"
            " WHERE tournament_id = %s AND status = 'waitlisted'",
            [longest, locked.pk],
        )
        cursor.execute(
            f"UPDATE {_REG} SET waitlist_position = ranked.n FROM ("
            " SELECT id, ROW_NUMBER() OVER (ORDER BY waitlist_position) AS n"
            f" FROM {_REG} WHERE tournament_id = %s AND status = 'waitlisted'"
            f") AS ranked WHERE {_REG}.id = ranked.id",
            [locked.pk],
        )


def _fill_slots(locked: Tournament, *, promote_to: str, actor, now) -> list[Registration]:
    """Promote waitlisted players in order into the free slots, charging each the fee; a
    player who cannot pay is dropped from the waitlist (their registration row deleted:
    they never held a slot or paid; `tournament.promotion_skipped` records it) and the
    next is tried. Updates the counters (in `locked` and the row) and renumbers the
    waitlist. The caller holds the tournament's lock, which every change to its
    registrations takes, so the waitlisted rows need no lock of their own."""
    longest = locked.waitlist_count
    promoted: list[Registration] = []
    left = 0
    after = 0
    while locked.active_count < locked.capacity and locked.waitlist_count > 0:
        wanted = locked.capacity - locked.active_count
        batch = list(
            Registration.objects.filter(
                tournament_id=locked.pk,
                status=RegistrationStatus.WAITLISTED,
                waitlist_position__gt=after,
            ).order_by("waitlist_position")[:wanted]
        )
        if not batch:
            break
        for candidate in batch:
            after = candidate.waitlist_position
            paid = None
            if locked.entry_fee:
                try:
                    paid = _charge(
                        locked.pk,
                        locked.name,
                        locked.currency.code,
                        locked.entry_fee,
                        candidate.member_id,
                        candidate.pk,
                        actor,
                    )
                except InsufficientFunds as error:
                    Registration.objects.filter(pk=candidate.pk).delete()
                    locked.waitlist_count -= 1
                    left += 1
                    _publish(
                        "tournament.promotion_skipped",
                        payloads.promotion_skipped(
                            tournament_id=locked.pk,
                            registration_id=candidate.pk,
                            member_id=candidate.member_id,
                            waitlist_position=candidate.waitlist_position,
                            reason=str(error),
                        ),
                        actor,
                    )
                    continue
            candidate.status = promote_to
            candidate.waitlist_position = None
            candidate.fee_transfer_id = paid.pk if paid else None
            candidate.status_changed_at = now
            fields = ["status", "waitlist_position", "fee_transfer", "status_changed_at"]
            if promote_to == RegistrationStatus.CHECKED_IN:
                candidate.checked_in_at = now
                fields.append("checked_in_at")
            candidate.save(update_fields=fields)
            locked.active_count += 1
            locked.waitlist_count -= 1
            left += 1
            promoted.append(candidate)
            _publish(
                "tournament.promoted",
                payloads.promoted(
                    tournament_id=locked.pk,
                    registration_id=candidate.pk,
                    member_id=candidate.member_id,
                    status=promote_to,
                    from_position=after,
                    transfer_id=candidate.fee_transfer_id,
                    counted=_counts(locked),
                ),
                actor,
            )
    if left:
        _save_counts(locked)
        _close_waitlist_gaps(locked, longest)
    return promoted


def _leaving(registration, leaving_as: str, from_statuses) -> tuple:
    """Lock `registration` and its tournament for it to leave as `leaving_as` (withdrawn,
    disqualified): (None, the registration with no promotions) if it has left so already;
    `NotRegistered` unless it is in `from_statuses`; `TournamentStarted` once the field is
    final."""
    locked, current = _locked_registration(registration)
    if current.status == leaving_as:
        current.promoted = []
        return None, current
    if current.status not in from_statuses:
        raise NotRegistered(f"registration {current.pk} is {current.status}")
    if locked.status not in (Status.REGISTRATION, Status.CHECK_IN):
        raise TournamentStarted(f"tournament {locked.pk} is {locked.status}: the field is final")
    return locked, current


def withdraw(registration, *, actor=None) -> Registration:
    """Leave the tournament: a slot's fee is refunded (the reversal of the fee transfer),
    the slot goes to the waitlist in order (`_fill_slots`); leaving the waitlist closes
    its gap. All in one transaction. Withdrawing again returns the registration as it is.
    After the tournament has started: `TournamentStarted`."""
    with transaction.atomic():
        locked, current = _leaving(registration, RegistrationStatus.WITHDRAWN, ACTIVE)
        if locked is None:
            return current
        now = timezone.now()
        was, position = current.status, current.waitlist_position
        refund = None
        if current.fee_transfer_id is not None:
            refund = ledger.reverse(
                Ref(current.fee_transfer_id),
                reason=f"Entry fee refunded: {locked.name}"[:255],
                idempotency_key=refund_key(locked.pk, current.pk),
                actor=actor,
                context={"tournament_id": locked.pk, "registration_id": current.pk},
            )
        current.status = RegistrationStatus.WITHDRAWN
        current.waitlist_position = None
        current.refund_transfer_id = refund.pk if refund else None
        current.status_changed_at = now
        current.save(
            update_fields=["status", "waitlist_position", "refund_transfer", "status_changed_at"]
        )
        if was == RegistrationStatus.WAITLISTED:
            longest = locked.waitlist_count
            locked.waitlist_count -= 1
        else:
            locked.active_count -= 1
        _save_counts(locked)
        _publish(
            "tournament.withdrawn",
            payloads.withdrawn(
                tournament_id=locked.pk,
                registration_id=current.pk,
                member_id=current.member_id,
                was=was,
                waitlist_position=position,
                refund_transfer_id=current.refund_transfer_id,
                counted=_counts(locked),
            ),
            actor,
        )
        if was == RegistrationStatus.WAITLISTED:
            _close_waitlist_gaps(locked, longest)
            current.promoted = []
        else:
            current.promoted = _fill_slots(
                locked, promote_to=RegistrationStatus.REGISTERED, actor=actor, now=now
            )
        return current


def disqualify(registration, *, reason: str = "", actor=None) -> Registration:
    """Take a player's slot away (the fee is not refunded); the slot goes to the
    waitlist. Before the tournament starts only (`TournamentStarted`)."""
    reason = _text(reason or "", "reason", 255, blank=True, error=InvalidRequest)
    with transaction.atomic():
        locked, current = _leaving(registration, RegistrationStatus.DISQUALIFIED, SEATED)
        if locked is None:
            return current
        now = timezone.now()
        Registration.objects.filter(pk=current.pk).update(
            status=RegistrationStatus.DISQUALIFIED, status_changed_at=now
        )
        current.status, current.status_changed_at = RegistrationStatus.DISQUALIFIED, now
        locked.active_count -= 1
        _save_counts(locked)
        _publish(
            "tournament.disqualified",
            payloads.disqualified(
                tournament_id=locked.pk,
                registration_id=current.pk,
                member_id=current.member_id,
                reason=reason,
                counted=_counts(locked),
            ),
            actor,
        )
        current.promoted = _fill_slots(
            locked, promote_to=RegistrationStatus.REGISTERED, actor=actor, now=now
        )
        return current


# --- check-in -------------------------------------------------------------------------


def check_in(registration, *, actor=None) -> Registration:
    """A registered player confirms they will play. Only while the tournament is in
    check-in and before its check-in window closes (`NotCheckInTime`); a waitlisted or
    departed player raises `NotRegistered`. Checking in again returns the registration.

    Takes the tournament's row FOR SHARE: check-ins run side by side, while a
    withdrawal or `close_check_in` (FOR NO KEY UPDATE) waits for them and they for it."""
    pk = _pk(registration, "registration")
    with transaction.atomic():
        row = Registration.objects.filter(pk=pk).values_list("tournament_id", flat=True).first()
        if row is None:
            raise InvalidRequest(f"no registration {pk}")
        share = " FOR SHARE" if connection.vendor == "postgresql" else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT status, check_in_closes_at FROM {_TOUR} WHERE id = %s{share}", [row]
            )
            status, closes = cursor.fetchone()
        closes = _as_datetime(closes)
        current = Registration.objects.select_for_update().get(pk=pk)
        if current.status == RegistrationStatus.CHECKED_IN:
            return current
        now = timezone.now()
        if status != Status.CHECK_IN or now >= closes:
            raise NotCheckInTime(
                f"tournament {row} is not checking in"
                + (f" (check-in closed at {closes:%Y-%m-%d %H:%M} UTC)" if now >= closes else "")
            )
        if current.status != RegistrationStatus.REGISTERED:
            raise NotRegistered(f"registration {current.pk} is {current.status}")
        current.status, current.checked_in_at, current.status_changed_at = (
            RegistrationStatus.CHECKED_IN,
            now,
            now,
        )
        current.save(update_fields=["status", "checked_in_at", "status_changed_at"])
        _publish(
            "tournament.checked_in",
            payloads.checked_in(
                tournament_id=row, registration_id=current.pk, member_id=current.member_id
            ),
            actor,
        )
        return current


@dataclass
class CheckInClosed:
    tournament: Tournament
    no_shows: list[int]  # registration ids
    promoted: list[Registration]


@transaction.atomic
def close_check_in(tournament, *, actor=None) -> CheckInClosed:
    """check_in -> in_progress. Registered players who did not check in become `no_show`
    (their fee is not refunded) and their slots are filled from the waitlist in order;
    a player promoted now is checked in at once (the waitlist is the standby list: there
    is no check-in after this), and pays the fee then. Players still waitlisted stay so."""
    locked = _lock(tournament)
    if locked.status != Status.CHECK_IN:
        raise IllegalTransition(locked.pk, locked.status, Status.IN_PROGRESS)
    now = timezone.now()
    no_shows = list(
        Registration.objects.filter(tournament=locked, status=RegistrationStatus.REGISTERED)
        .order_by("pk")
        .values_list("pk", "member_id")
    )
    if no_shows:
        Registration.objects.filter(pk__in=[pk for pk, _ in no_shows]).update(
            status=RegistrationStatus.NO_SHOW, status_changed_at=now
        )
        locked.active_count -= len(no_shows)
        _save_counts(locked)
        _publish(
            "tournament.no_show",
            payloads.no_show(
                tournament_id=locked.pk,
                registration_ids=[pk for pk, _ in no_shows],
                member_ids=[member for _, member in no_shows],
                counted=_counts(locked),
            ),
            actor,
        )
    promoted = _fill_slots(locked, promote_to=RegistrationStatus.CHECKED_IN, actor=actor, now=now)
    _transition(
        locked,
        Status.IN_PROGRESS,
        actor=actor,
        now=now,
        no_shows=len(no_shows),
        promoted=len(promoted),
        checked_in=locked.active_count,
    )
    return CheckInClosed(locked, [pk for pk, _ in no_shows], promoted)


@transaction.atomic
def cancel(tournament, *, reason: str = "", actor=None) -> Tournament:
    """Any status but completed -> cancelled: every player is withdrawn and every fee
    refunded (reversals). Cancelling again returns the tournament as it is."""
    reason = _text(reason or "", "reason", 255, blank=True, error=InvalidRequest)
    locked = _lock(tournament)
    if locked.status == Status.CANCELLED:
        return locked
    if Status.CANCELLED not in TRANSITIONS.get(locked.status, ()):
        raise IllegalTransition(locked.pk, locked.status, Status.CANCELLED)
    now = timezone.now()
    refunded = 0
    current = Registration.objects.filter(tournament=locked, status__in=ACTIVE).order_by("pk")
    for registration in current:
        refund = None
        if registration.fee_transfer_id is not None:
            refund = ledger.reverse(
                Ref(registration.fee_transfer_id),
                reason=f"Tournament cancelled: {locked.name}"[:255],
                idempotency_key=refund_key(locked.pk, registration.pk),
                actor=actor,
                context={"tournament_id": locked.pk, "registration_id": registration.pk},
            )
            refunded += 1
        Registration.objects.filter(pk=registration.pk).update(
            status=RegistrationStatus.WITHDRAWN,
            waitlist_position=None,
            refund_transfer=refund,
            status_changed_at=now,
        )
    locked.active_count = locked.waitlist_count = 0
    _save_counts(locked)
    _transition(locked, Status.CANCELLED, actor=actor, now=now, refunded=refunded, reason=reason)
    return locked


# --- brackets -------------------------------------------------------------------------


def seeding(locked: Tournament) -> list[Registration]:
    """The checked-in players in seed order: by their balance in the tournament's
    currency, highest first (their rank on its all-time leaderboard; no wallet counts as
    0), ties by registration time, then id."""
    players = list(
        Registration.objects.filter(tournament=locked, status=RegistrationStatus.CHECKED_IN)
    )
    balances = dict(
        Account.objects.filter(
            currency_id=locked.currency_id, member_id__in=[p.member_id for p in players]
        ).values_list("member_id", "balance")
    )
    return sorted(players, key=lambda p: (-balances.get(p.member_id, 0), p.created_at, p.pk))


@transaction.atomic
def generate_bracket(tournament, *, actor=None) -> list[Match]:
    """Seed the checked-in players (`seeding`) and write every match: single elimination
    (byes to the top seeds, decided at once and advanced) or round robin. Only once the
    tournament is in progress; generating again returns the bracket as it is."""
    locked = _lock(tournament)
    existing = list(Match.objects.filter(tournament=locked).order_by("round", "slot"))
    if existing:
        return existing
    if locked.status != Status.IN_PROGRESS:
        raise BracketError(
            f"tournament {locked.pk} is {locked.status}: close check-in first"
            if locked.status in (Status.REGISTRATION, Status.CHECK_IN)
            else f"tournament {locked.pk} is {locked.status}"
        )
    players = seeding(locked)
    if len(players) < 2:
        raise BracketError(f"tournament {locked.pk} has {len(players)} checked-in players")
    now = timezone.now()
    for seed, player in enumerate(players, start=1):
        player.seed = seed
    Registration.objects.bulk_update(players, ["seed"])
    by_seed = {player.seed: player.pk for player in players}
    elimination = locked.format == Format.SINGLE_ELIMINATION
    shape = (brackets.single_elimination if elimination else brackets.round_robin)(len(players))
    matches = {
        (s.round, s.slot): Match(
            tournament=locked,
            round=s.round,
            slot=s.slot,
            home_id=by_seed.get(s.home),
            away_id=by_seed.get(s.away),
        )
        for s in shape
    }
    for match in matches.values():
        if match.home_id and match.away_id:
            match.status = MatchStatus.READY
        elif elimination and match.round == 1:  # a bye: the player goes through
            match.status = MatchStatus.BYE
            match.winner_id = match.home_id or match.away_id
            match.decided_at = now
            _advance(matches, match)
    Match.objects.bulk_create(sorted(matches.values(), key=lambda m: (m.round, m.slot)))
    created = list(Match.objects.filter(tournament=locked).order_by("round", "slot"))
    _publish(
        "tournament.bracket_generated",
        payloads.bracket_generated(
            tournament_id=locked.pk,
            format=locked.format,
            players=len(players),
            rounds=max(m.round for m in created),
            matches=len(created),
            seeds=[
                payloads.seed(registration_id=p.pk, member_id=p.member_id, seed=p.seed)
                for p in players
            ],
        ),
        actor,
    )
    return created


def _advance(matches: dict[tuple[int, int], Match], decided: Match) -> Match | None:
    """Put a decided match's winner into the match it feeds; that match is ready once it
    has both players. Returns it (None after the final)."""
    round_, slot, side = brackets.next_match(decided.round, decided.slot)
    following = matches.get((round_, slot))
    if following is None:
        return None
    setattr(following, f"{side}_id", decided.winner_id)
    if following.home_id and following.away_id:
        following.status = MatchStatus.READY
    return following


def record_result(match, winner, score: str, *, actor=None) -> Match:
    """Record who won a ready match and the score (1 to 32 characters, e.g. "2-1"); in
    single elimination the winner moves on to the next match. Recording the same result
    again returns the match; a different one for a decided match raises `InvalidResult`."""
    match_pk, winner_pk = _pk(match, "match"), _pk(winner, "registration")
    if not isinstance(score, str) or not score.strip():
        raise InvalidResult("a score is required, e.g. '2-1'")
    score = score.strip()
    if len(score) > SCORE_MAX or _CONTROL_CHARACTERS.search(score):
        raise InvalidResult(f"a score has at most {SCORE_MAX} printable characters")
    with transaction.atomic():
        tournament_id = (
            Match.objects.filter(pk=match_pk).values_list("tournament_id", flat=True).first()
        )
        if tournament_id is None:
            raise InvalidRequest(f"no match {match_pk}")
        locked = _lock(tournament_id)
        current = Match.objects.select_for_update().get(pk=match_pk)
        if current.status in DECIDED:
            if current.winner_id == winner_pk and current.score == score:
                return current
            raise InvalidResult(f"match {current.pk} is decided already")
        if locked.status != Status.IN_PROGRESS:
            raise InvalidResult(f"tournament {locked.pk} is {locked.status}")
        if current.status != MatchStatus.READY:
            raise InvalidResult(f"match {current.pk} is still waiting for its players")
        if winner_pk not in (current.home_id, current.away_id):
            raise InvalidResult(f"registration {winner_pk} does not play in match {current.pk}")
        now = timezone.now()
        current.winner_id, current.score = winner_pk, score
        current.status, current.decided_at = MatchStatus.COMPLETED, now
        current.save(update_fields=["winner", "score", "status", "decided_at"])
        following = None
        if locked.format == Format.SINGLE_ELIMINATION:
            round_, slot, _ = brackets.next_match(current.round, current.slot)
            following = (
                Match.objects.select_for_update()
                .filter(tournament=locked, round=round_, slot=slot)
                .first()
            )
            if following is not None:
                _advance({(round_, slot): following}, current)
                following.save(update_fields=["home", "away", "status"])
        loser = current.away_id if winner_pk == current.home_id else current.home_id
        _publish(
            "tournament.match_recorded",
            payloads.match_recorded(
                tournament_id=locked.pk,
                match_id=current.pk,
                round=current.round,
                slot=current.slot,
                winner_registration_id=winner_pk,
                loser_registration_id=loser,
                score=score,
                next_match_id=following.pk if following else None,
            ),
            actor,
        )
        return current


def placements(locked: Tournament) -> dict[int, int]:
    """Registration id -> final placement, from the decided matches."""
    decided = list(
        Match.objects.filter(tournament=locked, status__in=DECIDED).values_list(
            "round", "home_id", "away_id", "winner_id"
        )
    )
    played = [brackets.Played(*row) for row in decided]
    if locked.format == Format.SINGLE_ELIMINATION:
        rounds = Match.objects.filter(tournament=locked).order_by("-round").first().round
        return brackets.single_elimination_placements(played, rounds)
    seeds = dict(
        Registration.objects.filter(tournament=locked, seed__isnull=False).values_list("pk", "seed")
    )
    return brackets.round_robin_placements(played, seeds)


def finalize(tournament, *, actor=None) -> Transfer | None:
    """in_progress -> completed once every match is decided: records each player's
    placement and pays the prize table through one `award_many` (key
    `tournament:<id>:prizes`). A second call returns the same transfer (`replayed=True`)
    and pays nothing; a tournament whose table pays nobody completes with no transfer."""
    with transaction.atomic():
        locked = _lock(tournament)
        if locked.status == Status.COMPLETED:
            if locked.prize_transfer_id is None:
                return None
            paid = Transfer.objects.get(pk=locked.prize_transfer_id)
            paid.replayed, paid.event, paid.balances = True, None, {}
            return paid
        if locked.status != Status.IN_PROGRESS:
            raise IllegalTransition(locked.pk, locked.status, Status.COMPLETED)
        matches = Match.objects.filter(tournament=locked)
        if not matches.exists():
            raise NotFinished(f"tournament {locked.pk} has no bracket yet")
        open_matches = matches.exclude(status__in=DECIDED).count()
        if open_matches:
            raise NotFinished(f"tournament {locked.pk} has {open_matches} matches to play")
        placed = placements(locked)
        members = dict(
            Registration.objects.filter(pk__in=list(placed)).values_list("pk", "member_id")
        )
        rows = [Registration(pk=pk, placement=place) for pk, place in placed.items()]
        Registration.objects.bulk_update(rows, ["placement"])
        prizes = [
            (members[pk], locked.prize_table[str(place)])
            for pk, place in sorted(placed.items(), key=lambda item: (item[1], item[0]))
            if str(place) in locked.prize_table
        ]
        paid = None
        if prizes:
            paid = ledger.award_many(
                [(Ref(member_id), amount) for member_id, amount in prizes],
                currency=locked.currency.code,
                kind=TransferKind.PRIZE,
                reason=f"Prizes: {locked.name}"[:255],
                idempotency_key=prizes_key(locked.pk),
                actor=actor,
                context={"tournament_id": locked.pk},
            )
        locked.prize_transfer = paid
        _transition(locked, Status.COMPLETED, actor=actor, fields={"prize_transfer": paid})
        _publish(
            "tournament.finalized",
            payloads.finalized(
                tournament_id=locked.pk,
                transfer_id=paid.pk if paid else None,
                placements=[
                    payloads.placement(
                        registration_id=pk,
                        member_id=members[pk],
                        placement=place,
                        prize=locked.prize_table.get(str(place), 0),
                    )
                    for pk, place in sorted(placed.items(), key=lambda item: (item[1], item[0]))
                ],
            ),
            actor,
        )
        return paid

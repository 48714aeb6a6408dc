"""Registrations from an organiser's spreadsheet: a CSV with the columns platform,
external id, username and email (headers in any case, with spaces, hyphens or
underscores; "E-mail" and a few other spellings are understood, see `ALIASES`).

`read_sheet` parses the file, `plan` works out what each row would do without writing
(validation, members found by identity, then by normalized email, else to be registered;
rows repeating an earlier player; players registered already; slot or waitlist position,
and whether the player can pay the fee), `run` plans and then, unless it is a dry run or
a row was rejected without `skip_invalid`, writes it all in one transaction: new members
through `accounts.actions.register_member`, then every registration through
`tournaments.actions.register_many` (one lock, rows in bulk). The management command
`import_registrations` renders the `Report`.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.actions import register_member, validate_identity, validate_username
from accounts.emails import normalize_email
from accounts.exceptions import AccountsError
from accounts.models import Identity, Member
from config.db import Ref
from ledger.models import Account
from tournaments.actions import closed_because, register_many
from tournaments.exceptions import InvalidRequest, RegistrationClosed, TournamentsError
from tournaments.models import ACTIVE, Registration, RegistrationStatus, Tournament

COLUMNS = ("platform", "external_id", "username", "email")
MAX_ROWS = 200_000
CHUNK = 2_000

# What a row did (or would do).
REGISTERED = "registered"
WAITLISTED = "waitlisted"
ALREADY = "already registered"
REJECTED = "rejected"
OUTCOMES = (REGISTERED, WAITLISTED, ALREADY, REJECTED)
# How its player was found.
CREATED = "created"
BY_IDENTITY = "matched by identity"
BY_EMAIL = "matched by email"


class SheetError(TournamentsError):
    """The file cannot be read as a registration sheet (encoding, columns, size)."""


class ImportAborted(TournamentsError):
    """A row was refused while writing (the database changed since the plan was made):
    nothing was imported."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}; nothing was imported")
        self.line = line
        self.reason = reason


@dataclass
class Row:
    line: int
    platform: str
    external_id: str
    username: str
    email: str
    email_normalized: str | None = None
    member_id: int | None = None
    found: str = ""  # created | matched by identity | matched by email
    outcome: str = ""
    reason: str = ""
    same_as: int | None = None  # the earlier row naming the same player
    registration_id: int | None = None
    position: int | None = None


@dataclass
class Report:
    tournament_id: int
    tournament_name: str
    rows: list[Row]
    dry_run: bool
    skip_invalid: bool
    applied: bool = False
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)

    def where(self, outcome: str) -> list[Row]:
        return [row for row in self.rows if row.outcome == outcome]

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((*OUTCOMES, CREATED, BY_IDENTITY, BY_EMAIL), 0)
        for row in self.rows:
            counts[row.outcome] += 1
            if row.found and row.outcome in (REGISTERED, WAITLISTED):
                counts[row.found] += 1
        return counts

    @property
    def rejected(self) -> int:
        return len(self.where(REJECTED))


class Progress:
    """What `run` reports as it goes (the command shows it as a progress bar)."""

    def stage(self, label: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


# Header spellings spreadsheets use, as `_column` normalizes them.
ALIASES = {
    "e_mail": "email",
    "email_address": "email",
    "mail": "email",
    "externalid": "external_id",
    "external": "external_id",
    "user_id": "external_id",
    "user_name": "username",
    "handle": "username",
}


def _column(header: str) -> str:
    name = "_".join(header.strip().lower().replace("-", " ").replace("_", " ").split())
    return ALIASES.get(name, name)


def read_sheet(path) -> list[Row]:
    """The sheet's rows with their line numbers (header on line 1; a UTF-8 BOM, as
    spreadsheet programs write, is fine). Extra columns are ignored."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as sheet:
            reader = csv.reader(sheet)
            header = next(reader, None)
            if header is None:
                raise SheetError(f"{path} is empty (expected a header: {', '.join(COLUMNS)})")
            names = [_column(name) for name in header]
            missing = [name for name in COLUMNS if name not in names]
            if missing:
                raise SheetError(
                    f"{path} has no column {', '.join(missing)}"
                    f" (header: {', '.join(h.strip() for h in header)})"
                )
            where = {name: names.index(name) for name in COLUMNS}
            rows = []
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                if len(rows) >= MAX_ROWS:
                    raise SheetError(f"{path} has more than {MAX_ROWS} rows")
                cells = [
                    record[where[name]] if where[name] < len(record) else "" for name in COLUMNS
                ]
                rows.append(Row(reader.line_num, *cells))
            return rows
    except UnicodeDecodeError as error:
        raise SheetError(f"{path} is not UTF-8 text (byte {error.start})") from None
    except csv.Error as error:
        raise SheetError(f"{path} is not a readable CSV: {error}") from None
    except OSError as error:
        raise SheetError(f"cannot read {path}: {error.strerror or error}") from None


def _reject(row: Row, reason: str) -> None:
    row.outcome, row.reason = REJECTED, reason


def _tournament(tournament) -> Tournament:
    pk = tournament if type(tournament) is int else getattr(tournament, "pk", None)
    found = Tournament.objects.select_related("currency").filter(pk=pk).first()
    if found is None:
        raise InvalidRequest(f"no tournament {pk}")
    return found


def plan(tournament, rows: list[Row], progress: Progress | None = None) -> Tournament:
    """Decide every row's outcome without writing anything. Raises `RegistrationClosed`
    if the tournament is not taking registrations."""
    progress = progress or Progress()
    found = _tournament(tournament)
    reason = closed_because(
        found.status, found.registration_opens_at, found.registration_closes_at, timezone.now()
    )
    if reason:
        raise RegistrationClosed(f"tournament {found.pk} is not open: {reason}")
    progress.stage("Checking rows", len(rows))
    first_by_identity: dict[tuple[str, str], Row] = {}
    first_by_email: dict[str, Row] = {}
    for row in rows:
        _check_row(row, first_by_identity, first_by_email)
        progress.advance()
    valid = [row for row in rows if not row.outcome]
    identities = _members_by_identity([(r.platform, r.external_id) for r in valid])
    emails = _members_by_email([r.email_normalized for r in valid if r.email_normalized])
    for row in valid:
        if (row.platform, row.external_id) in identities:
            row.member_id, row.found = identities[(row.platform, row.external_id)], BY_IDENTITY
        elif row.email_normalized in emails:
            row.member_id, row.found = emails[row.email_normalized], BY_EMAIL
        else:
            row.found = CREATED
    # The same member reached through two rows (two identities of one member, or one
    # row by identity and another by that member's email): the first row stands.
    by_member: dict[int, Row] = {}
    for row in valid:
        if row.member_id is None:
            continue
        if row.member_id in by_member:
            row.outcome, row.same_as = ALREADY, by_member[row.member_id].line
            row.reason = f"same player as line {row.same_as}"
        else:
            by_member[row.member_id] = row
    current = _current_registrations(found, list(by_member))
    for member_id, status in current.items():
        row = by_member[member_id]
        if status == RegistrationStatus.DISQUALIFIED:
            _reject(row, "disqualified from this tournament")
        else:
            row.outcome, row.reason = ALREADY, f"{status} before this import"
    _seat(found, [row for row in valid if not row.outcome])
    return found


def _check_row(row: Row, first_by_identity: dict, first_by_email: dict) -> None:
    try:
        row.platform, row.external_id = validate_identity(
            row.platform.strip().lower(), row.external_id
        )
        row.username = validate_username(row.username)
        row.email = row.email.strip()
        row.email_normalized = normalize_email(row.email) if row.email else None
    except AccountsError as error:
        _reject(row, str(error))
        return
    earlier = first_by_identity.get((row.platform, row.external_id))
    if earlier is None and row.email_normalized:
        earlier = first_by_email.get(row.email_normalized)
    if earlier is not None:
        row.outcome, row.same_as = ALREADY, earlier.line
        row.reason = f"same player as line {earlier.line}"
        return
    first_by_identity[(row.platform, row.external_id)] = row
    if row.email_normalized:
        first_by_email[row.email_normalized] = row


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _members_by_identity(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    wanted = set(keys)
    found: dict[tuple[str, str], int] = {}
    for chunk in _chunks(sorted({external_id for _, external_id in wanted})):
        for platform, external_id, member_id in Identity.objects.filter(
            external_id__in=chunk
        ).values_list("platform", "external_id", "member_id"):
            if (platform, external_id) in wanted:
                found[(platform, external_id)] = member_id
    return found


def _members_by_email(addresses: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(addresses))):
        found.update(
            Member.objects.filter(email_normalized__in=chunk).values_list("email_normalized", "pk")
        )
    return found


def _current_registrations(found: Tournament, member_ids: list[int]) -> dict[int, str]:
    """Member id -> the status of their current registration, or `disqualified`."""
    current: dict[int, str] = {}
    for chunk in _chunks(member_ids):
        current.update(
            Registration.objects.filter(
                tournament=found, member_id__in=chunk, status=RegistrationStatus.DISQUALIFIED
            ).values_list("member_id", "status")
        )
        current.update(
            Registration.objects.filter(
                tournament=found, member_id__in=chunk, status__in=ACTIVE
            ).values_list("member_id", "status")
        )
    return current


def _seat(found: Tournament, rows: list[Row]) -> None:
    """Slots, then waitlist positions, in row order, as `register_many` will give them;
    a player who cannot pay for a free slot is rejected (the next row gets it)."""
    available: dict[int, int] = {}
    for chunk in _chunks([row.member_id for row in rows if row.member_id is not None]):
        for member_id, balance, held in Account.objects.filter(
            currency=found.currency, member_id__in=chunk
        ).values_list("member_id", "balance", "held"):
            available[member_id] = balance - held
    currency = found.currency
    welcome = currency.signup_bonus if currency.opens_on_signup else 0
    seats = found.capacity - found.active_count
    waiting = found.waitlist_count
    for row in rows:
        if seats > 0:
            funds = welcome if row.member_id is None else available.get(row.member_id, 0)
            if found.entry_fee and funds < found.entry_fee:
                _reject(
                    row,
                    f"cannot pay the entry fee: has {funds} {currency.code},"
                    f" needs {found.entry_fee}",
                )
                continue
            row.outcome = REGISTERED
            seats -= 1
        elif found.waitlist_limit is None or waiting < found.waitlist_limit:
            waiting += 1
            row.outcome, row.position = WAITLISTED, waiting
        else:
            _reject(
                row,
                "the tournament is full"
                + ("" if found.waitlist_limit == 0 else " and so is its waitlist"),
            )


def run(
    tournament,
    rows: list[Row],
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    actor=None,
    progress: Progress | None = None,
) -> Report:
    """Plan the rows, then (not a dry run; no rejected row, or `skip_invalid`) write them
    in one transaction. Raises `ImportAborted` if a row is refused while writing without
    `skip_invalid` (nothing written); `RegistrationClosed` if the tournament is not open."""
    progress = progress or Progress()
    began = time.perf_counter()
    found = plan(tournament, rows, progress)
    report = Report(found.pk, found.name, rows, dry_run, skip_invalid)
    report.stages["plan"] = time.perf_counter() - began
    if dry_run or (report.rejected and not skip_invalid):
        report.seconds = time.perf_counter() - began
        return report
    with transaction.atomic():
        _create_members(rows, skip_invalid=skip_invalid, actor=actor, progress=progress)
        report.stages["members"] = time.perf_counter() - began - report.stages["plan"]
        _register(found, rows, skip_invalid=skip_invalid, actor=actor, progress=progress)
    report.applied = True
    report.seconds = time.perf_counter() - began
    report.stages["registrations"] = (
        report.seconds - report.stages["plan"] - report.stages["members"]
    )
    return report


def _create_members(rows: list[Row], *, skip_invalid: bool, actor, progress: Progress) -> None:
    new = [row for row in rows if row.found == CREATED and row.outcome in (REGISTERED, WAITLISTED)]
    progress.stage("Registering new members", len(new))
    for row in new:
        try:
            registration = register_member(
                platform=row.platform,
                external_id=row.external_id,
                username=row.username,
                email=row.email or None,
                actor=actor,
            )
        except AccountsError as error:
            # Someone registered this identity or mailbox since the plan was made.
            if not skip_invalid:
                raise ImportAborted(row.line, str(error)) from None
            _reject(row, str(error))
        else:
            row.member_id = registration.member.pk
            if not registration.created:
                row.found = BY_IDENTITY
        progress.advance()


def _register(
    found: Tournament, rows: list[Row], *, skip_invalid: bool, actor, progress: Progress
) -> None:
    wanted = [row for row in rows if row.outcome in (REGISTERED, WAITLISTED)]
    progress.stage("Registering players", len(wanted))
    # Refusals come back per player; without skip_invalid the first one aborts the
    # import (raised inside the transaction: everything rolls back).
    outcomes = register_many(
        found, [Ref(row.member_id) for row in wanted], actor=actor, skip_refused=True
    )
    for row, outcome in zip(wanted, outcomes, strict=True):
        if outcome.outcome in (REGISTERED, WAITLISTED):
            row.outcome = outcome.outcome
            row.registration_id = outcome.registration.pk
            row.position = outcome.registration.waitlist_position
        elif outcome.outcome == "already":
            row.outcome, row.reason = ALREADY, "registered meanwhile"
        elif skip_invalid:
            _reject(row, outcome.reason)
        else:
            raise ImportAborted(row.line, outcome.reason)
    lines = {row.line: row for row in rows}
    for row in rows:
        if row.same_as is not None and row.member_id is None:
            row.member_id = lines[row.same_as].member_id
    progress.advance(len(wanted))

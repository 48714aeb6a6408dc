"""A tournament's terms (name, game, currency, fee, capacity, waitlist, format, windows,
prize table): validating them, creating a draft with them, changing a draft's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from config.history import acting
from ledger.models import Currency
from ledger.plans import MAX_AMOUNT
from tournaments import payloads
from tournaments.actions.common import _lock, _publish
from tournaments.exceptions import IllegalTransition, InvalidTournament
from tournaments.models import Format, Status, Tournament

NAME_MAX = Tournament._meta.get_field("name").max_length
GAME_MAX = Tournament._meta.get_field("game").max_length
MAX_CAPACITY = 100_000
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    with acting(actor):  # the settings' history names who (config.history)
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
    with acting(actor):
        locked.save(update_fields=list(changed))
    _publish(
        "tournament.updated",
        payloads.updated(tournament_id=locked.pk, changed=sorted(changed)),
        actor,
    )
    return locked

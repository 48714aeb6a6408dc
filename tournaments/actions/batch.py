"""Registering many members at once (imports): `register` one after another in effect,
in one transaction holding the tournament's lock, with rows written in bulk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ledger.exceptions import InsufficientFunds
from tournaments import payloads
from tournaments.actions.common import (
    _charge_entry,
    _counts,
    _lock,
    _member_id,
    _publish,
    _save_counts,
)
from tournaments.actions.registration import _reserve_ids, closed_because
from tournaments.exceptions import Disqualified, RegistrationClosed, TournamentFull
from tournaments.models import ACTIVE, Registration, RegistrationStatus, Tournament

_CHUNK = 5000  # members per lookup (SQLite's limit on a statement's parameters)


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
        unique = list(dict.fromkeys(member_ids))
        active = dict(_chunked(locked, unique, "member_id", "pk", status__in=ACTIVE))
        barred = set(_chunked(locked, unique, "member_id", status=RegistrationStatus.DISQUALIFIED))
        fresh = [m for m in unique if m not in active and m not in barred]
        batch = _Batch(locked, iter(_reserve_ids(len(fresh))), now, actor, skip_refused)
        outcomes = [batch.take(member_id, active, barred) for member_id in member_ids]
        batch.write()
    return outcomes


def _chunked(locked: Tournament, member_ids: list[int], *fields, **where) -> list:
    """`values_list(*fields)` (flat for one field) of the tournament's registrations of
    `member_ids` matching `where`, looked up `_CHUNK` members at a time."""
    found = []
    for start in range(0, len(member_ids), _CHUNK):
        found.extend(
            Registration.objects.filter(
                tournament=locked, member_id__in=member_ids[start : start + _CHUNK], **where
            ).values_list(*fields, flat=len(fields) == 1)
        )
    return found


@dataclass
class _Batch:
    """The registrations `register_many` writes, decided one member at a time: the free
    slots and the waitlist as the members before left them."""

    locked: Tournament
    ids: Iterator[int]
    now: datetime
    actor: object
    skip_refused: bool
    rows: list[Registration] = field(default_factory=list)
    done: dict[int, Registration] = field(default_factory=dict)

    def __post_init__(self):
        self.seats = self.locked.capacity - self.locked.active_count
        self.waiting = self.locked.waitlist_count

    def take(self, member_id: int, active: dict[int, int], barred: set[int]) -> BatchOutcome:
        if member_id in active or member_id in self.done:
            return BatchOutcome(member_id, "already", self.done.get(member_id))
        if member_id in barred:
            if not self.skip_refused:
                raise Disqualified(
                    f"member {member_id} was disqualified from tournament {self.locked.pk}"
                )
            return BatchOutcome(
                member_id, "disqualified", reason="disqualified from this tournament"
            )
        registration = Registration(
            tournament_id=self.locked.pk,
            member_id=member_id,
            created_at=self.now,
            status_changed_at=self.now,
        )
        refused = self._seat(registration) if self.seats > 0 else self._wait(registration)
        if refused is not None:
            return refused
        self.rows.append(registration)
        self.done[member_id] = registration
        return BatchOutcome(member_id, registration.status, registration)

    def _seat(self, registration: Registration) -> BatchOutcome | None:
        """Seat the registration, charging its fee; `short` if they cannot pay."""
        registration.id = next(self.ids)
        locked = self.locked
        if locked.entry_fee:
            try:
                paid = _charge_entry(locked, registration.member_id, registration.id, self.actor)
            except InsufficientFunds as error:
                if not self.skip_refused:
                    raise
                return BatchOutcome(registration.member_id, "short", reason=str(error))
            registration.fee_transfer_id = paid.pk
        registration.status = RegistrationStatus.REGISTERED
        self.seats -= 1
        return None

    def _wait(self, registration: Registration) -> BatchOutcome | None:
        """Waitlist the registration; `full` if the waitlist has no room."""
        limit = self.locked.waitlist_limit
        if limit is not None and self.waiting >= limit:
            if not self.skip_refused:
                raise TournamentFull(
                    f"tournament {self.locked.pk} is full and takes no more on its waitlist"
                )
            return BatchOutcome(registration.member_id, "full", reason="the tournament is full")
        registration.id = next(self.ids)
        self.waiting += 1
        registration.status = RegistrationStatus.WAITLISTED
        registration.waitlist_position = self.waiting
        return None

    def write(self) -> None:
        """The rows in bulk, the counters in one update, one `tournament.registered_many`."""
        locked, rows = self.locked, self.rows
        Registration.objects.bulk_create(rows, batch_size=2000)
        seated = sum(1 for r in rows if r.status == RegistrationStatus.REGISTERED)
        locked.active_count += seated
        locked.waitlist_count = self.waiting
        _save_counts(locked)
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
                actor=self.actor,
            )

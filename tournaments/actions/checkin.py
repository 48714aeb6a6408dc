"""Check-in: players confirm they will play, then closing it starts the tournament (the
no-shows' slots go to the waitlist, whose players are checked in at once)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from tournaments import payloads, sql
from tournaments.actions.common import (
    _as_datetime,
    _counts,
    _lock,
    _pk,
    _publish,
    _save_counts,
)
from tournaments.actions.lifecycle import _transition
from tournaments.actions.waitlist import _fill_slots
from tournaments.exceptions import (
    IllegalTransition,
    InvalidRequest,
    NotCheckInTime,
    NotRegistered,
)
from tournaments.models import Registration, RegistrationStatus, Status, Tournament


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
        lock = "FOR SHARE" if connection.vendor == "postgresql" else ""
        with connection.cursor() as cursor:
            cursor.execute(sql.statement("checkin_window", lock=lock), [row])
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

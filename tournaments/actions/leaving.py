"""Players leaving before the tournament starts: withdrawing (a slot's fee refunded) and
being disqualified (not refunded). Either way a slot goes to the waitlist in order."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from tournaments import payloads
from tournaments.actions.common import (
    _counts,
    _locked_registration,
    _publish,
    _refund,
    _save_counts,
)
from tournaments.actions.terms import _text
from tournaments.actions.waitlist import _close_waitlist_gaps, _fill_slots
from tournaments.exceptions import InvalidRequest, NotRegistered, TournamentStarted
from tournaments.models import ACTIVE, SEATED, Registration, RegistrationStatus, Status


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
            refund = _refund(locked, current, f"Entry fee refunded: {locked.name}", actor)
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

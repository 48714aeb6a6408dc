"""A tournament's status changes that are not about one player: opening registration,
opening check-in, cancelling (every fee refunded). Closing check-in is in `checkin`,
completing in `prizes`; all of them move the status through `_transition`."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ledger import actions as ledger
from ledger.posting import Leg, open_accounts
from tournaments import payloads
from tournaments.actions.common import _lock, _publish, _refund, _save_counts, fee_sink
from tournaments.actions.terms import _text
from tournaments.exceptions import IllegalTransition, InvalidRequest
from tournaments.models import (
    ACTIVE,
    TRANSITIONS,
    Registration,
    RegistrationStatus,
    Status,
    Tournament,
)


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
            refund = _refund(locked, registration, f"Tournament cancelled: {locked.name}", actor)
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

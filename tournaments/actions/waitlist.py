"""The waitlist: filling the slots players left from it in order, and keeping its
positions 1..n without gaps (`waitlist_lift.sql`, `waitlist_renumber.sql`). The database
holds the rule at commit (`tournaments_verify`, migration 0002); this keeps to it."""

from __future__ import annotations

from django.db import connection

from ledger.exceptions import InsufficientFunds
from tournaments import payloads, sql
from tournaments.actions.common import _charge_entry, _counts, _publish, _save_counts
from tournaments.models import Registration, RegistrationStatus, Tournament

_LIFT = sql.statement("waitlist_lift")
_RENUMBER = sql.statement("waitlist_renumber")


def _close_waitlist_gaps(locked: Tournament, longest: int) -> None:
    """Number the waitlist 1..n again, in its order, after rows left it. `longest` is at
    least the highest position before they left. Two statements so that no row ever
    takes a position another still holds (the unique index is checked row by row):
    first everyone moves above `longest`, then each takes its rank."""
    if locked.waitlist_count == 0:
        return
    with connection.cursor() as cursor:
        cursor.execute(_LIFT, {"longest": longest, "tournament": locked.pk})
        cursor.execute(_RENUMBER, {"tournament": locked.pk})


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
            left += 1
            paid = None
            if locked.entry_fee:
                try:
                    paid = _charge_entry(locked, candidate.member_id, candidate.pk, actor)
                except InsufficientFunds as error:
                    _drop(locked, candidate, str(error), actor)
                    continue
            _promote(locked, candidate, paid, promote_to=promote_to, actor=actor, now=now)
            promoted.append(candidate)
    if left:
        _save_counts(locked)
        _close_waitlist_gaps(locked, longest)
    return promoted


def _drop(locked: Tournament, candidate: Registration, reason: str, actor) -> None:
    """Take a waitlisted player who cannot pay for the slot off the waitlist."""
    Registration.objects.filter(pk=candidate.pk).delete()
    locked.waitlist_count -= 1
    _publish(
        "tournament.promotion_skipped",
        payloads.promotion_skipped(
            tournament_id=locked.pk,
            registration_id=candidate.pk,
            member_id=candidate.member_id,
            waitlist_position=candidate.waitlist_position,
            reason=reason,
        ),
        actor,
    )


def _promote(locked: Tournament, candidate: Registration, paid, *, promote_to, actor, now):
    """Give a waitlisted player a slot (`promote_to`: registered, or checked in)."""
    from_position = candidate.waitlist_position
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
    _publish(
        "tournament.promoted",
        payloads.promoted(
            tournament_id=locked.pk,
            registration_id=candidate.pk,
            member_id=candidate.member_id,
            status=promote_to,
            from_position=from_position,
            transfer_id=candidate.fee_transfer_id,
            counted=_counts(locked),
        ),
        actor,
    )

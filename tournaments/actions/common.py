"""What the actions share: the keys and accounts money moves under, publishing, the
tournament's row lock, the counters and the entry fee's charge."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone

import events
from config.db import Ref, pk_of
from ledger import actions as ledger
from ledger.models import Transfer, TransferKind
from ledger.plans import SystemKey
from tournaments import payloads
from tournaments.exceptions import InvalidRequest
from tournaments.models import Registration, Tournament

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
    """The primary key of `obj`, a saved model instance or an id (`what` names it)."""
    return pk_of(obj, what, InvalidRequest)


def _member_id(member) -> int:
    return _pk(member, "member")


def _as_datetime(value):
    """A timestamp as raw SQL returns it (SQLite: text) as an aware datetime."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)
    return connection.ops.convert_datetimefield_value(value, None, connection)


# --- locks ----------------------------------------------------------------------------


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


# --- counters and fees ----------------------------------------------------------------


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


def _charge_entry(locked: Tournament, member_id: int, registration_id: int, actor) -> Transfer:
    """`_charge` of the locked tournament's entry fee."""
    return _charge(
        locked.pk,
        locked.name,
        locked.currency.code,
        locked.entry_fee,
        member_id,
        registration_id,
        actor,
    )


def _refund(locked: Tournament, registration: Registration, reason: str, actor) -> Transfer:
    """The reversal of the registration's entry fee (key `tournament:<t>:refund:<r>`)."""
    return ledger.reverse(
        Ref(registration.fee_transfer_id),
        reason=reason[:255],
        idempotency_key=refund_key(locked.pk, registration.pk),
        actor=actor,
        context={"tournament_id": locked.pk, "registration_id": registration.pk},
    )

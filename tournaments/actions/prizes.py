"""Completing a tournament: each player's placement recorded and the prize table paid
through one `award_many` (key `tournament:<id>:prizes`)."""

from __future__ import annotations

from django.db import transaction

from config.db import Ref
from ledger import actions as ledger
from ledger.models import Transfer, TransferKind
from tournaments import payloads
from tournaments.actions.bracket import placements
from tournaments.actions.common import _lock, _publish, prizes_key
from tournaments.actions.lifecycle import _transition
from tournaments.exceptions import IllegalTransition, NotFinished
from tournaments.models import DECIDED, Match, Registration, Status, Tournament


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
        ranked = sorted(placed.items(), key=lambda item: (item[1], item[0]))
        paid = _pay_prizes(locked, ranked, members, actor)
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
                    for pk, place in ranked
                ],
            ),
            actor,
        )
        return paid


def _pay_prizes(locked: Tournament, ranked, members: dict[int, int], actor) -> Transfer | None:
    """One `award_many` of the prize table to the players `ranked` [(registration,
    placement)] in placement order; None when the table pays none of them."""
    prizes = [
        (members[pk], locked.prize_table[str(place)])
        for pk, place in ranked
        if str(place) in locked.prize_table
    ]
    if not prizes:
        return None
    return ledger.award_many(
        [(Ref(member_id), amount) for member_id, amount in prizes],
        currency=locked.currency.code,
        kind=TransferKind.PRIZE,
        reason=f"Prizes: {locked.name}"[:255],
        idempotency_key=prizes_key(locked.pk),
        actor=actor,
        context={"tournament_id": locked.pk},
    )

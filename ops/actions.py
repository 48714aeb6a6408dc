"""Operations' one write to domain data: a selective restore's repair (`ops.selective`).

`repair_member` carries out a plan's repairs through the owning apps' actions, in one
transaction: a refusal by any of them (an e-mail another member took since, an identity
linked to someone else, a wallet that cannot give back what it holds in open holds)
rolls every repair back and is raised as it is. The fresh backup is the caller's, before
this (`ops.selective` says why and what is repaired)."""

from __future__ import annotations

from django.db import transaction

import events
from accounts.actions import link_identity, update_member
from accounts.models import Member
from ledger import actions as ledger
from ledger.models import TransferKind
from ops import payloads
from ops.selective import Plan


@transaction.atomic
def repair_member(found: Plan, *, actor=None) -> list[str]:
    """Apply `found.repairs`; returns what was done (one line each)."""
    member = Member.objects.select_for_update(no_key=True).get(pk=found.member_id)
    done = []
    for repair in found.repairs:
        args = repair.args
        if repair.kind == "member":
            update_member(member, actor=actor, **args["changes"])
        elif repair.kind == "identity":
            link_identity(
                member,
                platform=args["platform"],
                external_id=args["external_id"],
                username=args["username"] or "",
                actor=actor,
            )
        elif repair.kind == "wallet":
            _compensate(member, args, found, actor)
        done.append(repair.what)
    events.publish(
        "system.member_repaired",
        payloads.member_repaired(member_id=member.pk, source=found.source, repairs=done),
        actor=actor,
        subject=f"member:{member.pk}",
    )
    return done


def _compensate(member: Member, args: dict, found: Plan, actor) -> None:
    """One adjustment transfer moving the wallet by `delta` (never a raw posting)."""
    key = f"restore-member:{member.pk}:{args['currency']}:{args['live']}:{args['delta']}"
    reason = f"selective restore from {found.source}"[:255]
    if args["delta"] > 0:
        ledger.award(
            member,
            args["delta"],
            currency=args["currency"],
            kind=TransferKind.ADJUSTMENT,
            reason=reason,
            idempotency_key=key,
            actor=actor,
        )
    else:
        ledger.spend(
            member,
            -args["delta"],
            currency=args["currency"],
            kind=TransferKind.ADJUSTMENT,
            sink="restore",
            reason=reason,
            idempotency_key=key,
            actor=actor,
        )

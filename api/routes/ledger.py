"""The ledger: balances, statements, and every value-moving action (award, spend,
transfer, hold/capture/release, reverse), each the `ledger.actions` function every other
door calls, with the key's actor. Every writing POST here requires an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field, StrictInt

from accounts.models import Member
from api import idempotency
from api.auth import scope
from api.problems import Problem
from api.routes.common import acts, get_or_404, parse_cursor
from api.schemas import Amount, Context, Currency, Id, Page, PathId, Reason, text
from config.db import Ref
from events.payloads import sql_object
from ledger import actions, queries
from ledger.exceptions import UnknownMember
from ledger.models import Hold, Posting, Transfer

router = Router(tags=["ledger"])
PAGE_MAX = 200
HOLD_MAX_SECONDS = 30 * 24 * 3600


class BalanceOut(Schema):
    member_id: int
    currency: str
    balance: int
    available: int


class LineOut(Schema):
    posting_id: int
    transfer_id: int
    created_at: datetime
    kind: str
    reason: str
    amount: int
    balance: int
    version: int


class StatementOut(Page):
    items: list[LineOut]


class PostingOut(Schema):
    member_id: int | None
    account: str
    amount: int
    balance: int | None


class TransferOut(Schema):
    id: int
    kind: str
    currency: str
    reason: str
    created_at: datetime
    reverses_id: int | None
    postings: list[PostingOut]


# `transfer_data` of a transfer in SQL, over the posting statement (ledger/sql/post.pg.sql:
# its `transfer`, `legs` and `wallets`, its parameters): the answer an award written in one
# statement stores and answers (`idempotency.OneStatement`).
TRANSFER_ANSWER = sql_object(
    TransferOut,
    id="transfer.id",
    kind="%(kind)s::text",
    currency="%(currency)s::text",
    reason="%(reason)s::text",
    created_at="%(idem_now_json)s::text",
    reverses_id="%(reverses)s::bigint",
    postings="(SELECT jsonb_agg(jsonb_build_object('member_id', legs.member_id, 'account',"
    " COALESCE(legs.system, 'member:' || legs.member_id), 'amount', legs.delta, 'balance',"
    " wallets.balance) ORDER BY legs.ord) FROM legs LEFT JOIN wallets"
    " ON wallets.id = legs.account_id)",
)


class AwardIn(Schema):
    member_id: Id
    amount: Amount
    currency: Currency = "points"
    kind: text(20, 1) = "award"
    reason: Reason
    context: Context = None


class SpendIn(Schema):
    member_id: Id
    amount: Amount
    currency: Currency = "points"
    kind: text(20, 1) = "spend"
    sink: text(64, 1)
    reason: Reason
    context: Context = None


class TransferIn(Schema):
    from_member_id: Id
    to_member_id: Id
    amount: Amount
    currency: Currency = "points"
    reason: Reason
    context: Context = None


class HoldIn(Schema):
    member_id: Id
    amount: Amount
    currency: Currency = "points"
    sink: text(64, 1)
    reason: Reason
    expires_in_seconds: StrictInt = Field(ge=1, le=HOLD_MAX_SECONDS)
    context: Context = None


class ReverseIn(Schema):
    reason: Reason
    context: Context = None


class HoldOut(Schema):
    id: int
    member_id: int
    currency: str
    amount: int
    sink: str
    status: str
    reason: str
    created_at: datetime
    expires_at: datetime
    settled_at: datetime | None
    transfer_id: int | None


def transfer_data(transfer: Transfer) -> dict:
    """The answer about `transfer`: from the event its posting just wrote (no query), or,
    for a transfer read back (a replayed key), from its postings."""
    event = getattr(transfer, "event", None)
    if event is not None and not getattr(transfer, "replayed", True):
        data = event.data
        currency = data["currency"]
        rows = [(p["member_id"], p["system"], p["amount"], p["balance"]) for p in data["postings"]]
    else:
        rows = list(
            Posting.objects.filter(transfer_id=transfer.pk)
            .order_by("id")
            .values_list(
                "account__member_id",
                "account__name",
                "amount",
                "balance_after",
                "account__currency__code",
            )
        )
        currency = rows[0][4] if rows else ""
    return TransferOut(
        id=transfer.pk,
        kind=transfer.kind,
        currency=currency,
        reason=transfer.reason,
        created_at=transfer.created_at,
        reverses_id=transfer.reverses_id,
        postings=[
            PostingOut(
                member_id=row[0],
                account=row[1] or f"member:{row[0]}",
                amount=row[2],
                balance=row[3],
            )
            for row in rows
        ],
    ).model_dump(mode="json")


def hold_data(hold: Hold) -> dict:
    hold = Hold.objects.select_related("account__currency").get(pk=hold.pk)
    return HoldOut(
        id=hold.pk,
        member_id=hold.account.member_id,
        currency=hold.account.currency.code,
        amount=hold.amount,
        sink=hold.sink,
        status=hold.status,
        reason=hold.reason,
        created_at=hold.created_at,
        expires_at=hold.expires_at,
        settled_at=hold.settled_at,
        transfer_id=hold.transfer_id,
    ).model_dump(mode="json")


def _member(member_id: int) -> Member:
    return get_or_404(Member.objects.only("pk"), member_id, "member")


def _write(request, payload, work):
    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=True)


@router.get(
    "/members/{member_id}/balance",
    auth=scope("ledger:read"),
    response=BalanceOut,
    summary="A member's balance and available balance (balance minus open holds)",
)
def balance(request: HttpRequest, member_id: PathId, currency: Currency = "points"):
    member = _member(member_id)
    amount, available = queries.balance(member, currency)
    return {"member_id": member.pk, "currency": currency, "balance": amount, "available": available}


class StatementQuery(Schema):
    currency: Currency = "points"
    limit: int = Field(50, ge=1, le=PAGE_MAX)
    cursor: text(18) | None = None


@router.get(
    "/members/{member_id}/statement",
    auth=scope("ledger:read"),
    response=StatementOut,
    summary="A member's wallet history, newest first, paged by cursor",
)
def statement(request: HttpRequest, member_id: PathId, q: Query[StatementQuery]):
    member = _member(member_id)
    lines = queries.statement(member, q.currency, limit=q.limit + 1, before=parse_cursor(q.cursor))
    page, more = lines[: q.limit], len(lines) > q.limit
    return {
        "items": [line.__dict__ for line in page],
        "next_cursor": str(page[-1].version) if more else None,
    }


@router.post(
    "/awards",
    auth=scope("ledger:write"),
    response={201: TransferOut},
    summary="Award points",
    openapi_extra=idempotency.REQUIRED,
)
def award(request: HttpRequest, payload: AwardIn):
    def work():
        try:
            # The member is not read first: the award's statement finds its wallet (or
            # refuses a member that does not exist), one round trip less.
            transfer = _award(request, payload)
        except UnknownMember:
            raise Problem(404, "member_not_found", f"no member {payload.member_id}") from None
        return 201, transfer_data(transfer)

    # On PostgreSQL an award to an open wallet is one statement: claim, transfer, answer.
    fast = idempotency.OneStatement(lambda: _award(request, payload), 201, TRANSFER_ANSWER)
    return idempotency.write(
        request, payload.model_dump(mode="json"), work, moves_value=True, one_statement=fast
    )


def _award(request: HttpRequest, payload: AwardIn) -> Transfer:
    return actions.award(
        Ref(payload.member_id),
        payload.amount,
        currency=payload.currency,
        kind=payload.kind,
        reason=payload.reason,
        idempotency_key=idempotency.ledger_key(request),
        actor=request.auth.actor,
        context=payload.context,
    )


@router.post(
    "/spends",
    auth=scope("ledger:write"),
    response={201: TransferOut},
    summary="Spend points",
    openapi_extra=idempotency.REQUIRED,
)
def spend(request: HttpRequest, payload: SpendIn):
    acts(payload.member_id)

    def work():
        transfer = actions.spend(
            _member(payload.member_id),
            payload.amount,
            currency=payload.currency,
            kind=payload.kind,
            sink=payload.sink,
            reason=payload.reason,
            idempotency_key=idempotency.ledger_key(request),
            actor=request.auth.actor,
            context=payload.context,
        )
        return 201, transfer_data(transfer)

    return _write(request, payload, work)


@router.post(
    "/transfers",
    auth=scope("ledger:write"),
    response={201: TransferOut},
    summary="Move points between two members",
    openapi_extra=idempotency.REQUIRED,
)
def transfer(request: HttpRequest, payload: TransferIn):
    acts(payload.from_member_id)

    def work():
        moved = actions.transfer(
            _member(payload.from_member_id),
            _member(payload.to_member_id),
            payload.amount,
            currency=payload.currency,
            reason=payload.reason,
            idempotency_key=idempotency.ledger_key(request),
            actor=request.auth.actor,
            context=payload.context,
        )
        return 201, transfer_data(moved)

    return _write(request, payload, work)


@router.post(
    "/transfers/{transfer_id}/reverse",
    auth=scope("ledger:write"),
    response={201: TransferOut},
    summary="Reverse a transfer (at most once)",
    openapi_extra=idempotency.REQUIRED,
)
def reverse(request: HttpRequest, transfer_id: PathId, payload: ReverseIn):
    def work():
        original = get_or_404(Transfer.objects, transfer_id, "transfer")
        reversal = actions.reverse(
            original,
            reason=payload.reason,
            idempotency_key=idempotency.ledger_key(request),
            actor=request.auth.actor,
            context=payload.context,
        )
        return 201, transfer_data(reversal)

    return _write(request, payload, work)


@router.post(
    "/holds",
    auth=scope("ledger:write"),
    response={201: HoldOut},
    summary="Reserve points until captured, released or expired",
    openapi_extra=idempotency.REQUIRED,
)
def hold(request: HttpRequest, payload: HoldIn):
    acts(payload.member_id)

    def work():
        placed = actions.hold(
            _member(payload.member_id),
            payload.amount,
            currency=payload.currency,
            sink=payload.sink,
            reason=payload.reason,
            idempotency_key=idempotency.ledger_key(request),
            expires_at=timezone.now() + timedelta(seconds=payload.expires_in_seconds),
            actor=request.auth.actor,
            context=payload.context,
        )
        return 201, hold_data(placed)

    return _write(request, payload, work)


@router.get("/holds/{hold_id}", auth=scope("ledger:read"), response=HoldOut, summary="A hold")
def get_hold(request: HttpRequest, hold_id: PathId):
    return hold_data(get_or_404(Hold.objects, hold_id, "hold"))


class NoBody(Schema):
    pass


@router.post(
    "/holds/{hold_id}/capture",
    auth=scope("ledger:write"),
    response={200: HoldOut},
    summary="Capture a hold: spend its amount to its sink",
    openapi_extra=idempotency.REQUIRED,
)
def capture(request: HttpRequest, hold_id: PathId, payload: NoBody | None = None):
    def work():
        held = get_or_404(Hold.objects, hold_id, "hold")
        actions.capture(held, actor=request.auth.actor)
        return 200, hold_data(held)

    return idempotency.write(request, {}, work, moves_value=True)


@router.post(
    "/holds/{hold_id}/release",
    auth=scope("ledger:write"),
    response={200: HoldOut},
    summary="Release a hold: free its amount",
    openapi_extra=idempotency.REQUIRED,
)
def release(request: HttpRequest, hold_id: PathId, payload: NoBody | None = None):
    def work():
        held = get_or_404(Hold.objects, hold_id, "hold")
        actions.release(held, actor=request.auth.actor)
        return 200, hold_data(held)

    return idempotency.write(request, {}, work, moves_value=True)

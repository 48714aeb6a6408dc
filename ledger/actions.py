"""Every write to the ledger goes through here.

Each action validates its arguments before touching a row (`InvalidAmount`,
`InvalidRequest`), writes in one transaction, publishes its event in it, and on any
refusal leaves the database as it was. Idempotency keys work as payment APIs' do: the
same key with the same request returns the first answer and writes nothing; with a
different request it raises `IdempotencyConflict` naming what differs.

Granting achievements and recording activity are ledger actions too, offered here
(imported `as` themselves) from `ledger.achievements`, which sits below this module: it
pays rewards through `ledger.posting` directly. Every transfer posted here passes
`grant=grant_due`, so the balance achievements it reaches are granted with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

import events
from config.db import Ref
from ledger import payloads, sql
from ledger.achievements import grant_achievement as grant_achievement
from ledger.achievements import grant_due
from ledger.achievements import record_activity as record_activity
from ledger.exceptions import (
    HoldExpired,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    InvalidReversal,
    UnknownCurrency,
)
from ledger.models import (
    ISSUANCE,
    Account,
    Currency,
    Hold,
    HoldStatus,
    Transfer,
    TransferKind,
)
from ledger.plans import (
    Leg,
    Plan,
    SystemKey,
    check_amount,
    check_context,
    check_currency,
    check_key,
    check_reason,
    member_id_of,
)
from ledger.posting import open_accounts, post

# Which kinds each action may record.
AWARD_KINDS = frozenset(
    {
        TransferKind.AWARD,
        TransferKind.BONUS,
        TransferKind.REFERRAL_BONUS,
        TransferKind.ACHIEVEMENT,
        TransferKind.PRIZE,
        TransferKind.REFUND,
        TransferKind.ADJUSTMENT,
    }
)
SPEND_KINDS = frozenset({TransferKind.SPEND, TransferKind.PURCHASE, TransferKind.ADJUSTMENT})
SINK_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,58}\Z")

# A hold moves only `held`: the wallet must cover it as a transfer's leg would.
_HOLD_PLACE_SQL = sql.statement(
    "hold_place",
    covers=sql.statement("covers", wallet="ledger_account", delta="0", held_delta="%(amount)s"),
)


def _kind(kind, allowed: frozenset[str], action: str) -> str:
    if kind not in allowed:
        raise InvalidRequest(f"{action} records one of {', '.join(sorted(allowed))}, not {kind!r}")
    return str(kind)


def _actor_id(actor) -> int | None:
    return None if actor is None else actor.pk


def sink_account(sink) -> str:
    """The system account a spend pays: `reading` and `sink:reading` both name `sink:reading`."""
    name = sink.removeprefix("sink:") if isinstance(sink, str) else ""
    if not SINK_PATTERN.match(name):
        raise InvalidRequest(f"a sink is a short lowercase name like 'reading', not {sink!r}")
    return f"sink:{name}"


def award(
    member,
    amount,
    *,
    currency: str = "points",
    kind: str = TransferKind.AWARD,
    reason: str,
    idempotency_key: str,
    actor=None,
    context=None,
) -> Transfer:
    """Issue `amount` to `member`'s wallet (opened if it is not yet)."""
    return award_many(
        [(member, amount)],
        currency=currency,
        kind=kind,
        reason=reason,
        idempotency_key=idempotency_key,
        actor=actor,
        context=context,
    )


def award_many(
    awards: Iterable[tuple[object, int]],
    *,
    currency: str = "points",
    kind: str = TransferKind.AWARD,
    reason: str,
    idempotency_key: str,
    actor=None,
    context=None,
) -> Transfer:
    """One transfer paying many members (event-wide bonus, tournament prizes).

    Amounts for the same member are added up into one posting. Wallets are locked in id
    order across the batch and written by one set-based statement."""
    totals: dict[int, int] = {}
    for member, amount in awards:
        member_id = member_id_of(member)
        totals[member_id] = totals.get(member_id, 0) + check_amount(amount)
    if not totals:
        raise InvalidRequest("award_many needs at least one (member, amount)")
    total = check_amount(sum(totals.values()))
    legs = [Leg(member_id, None, amount) for member_id, amount in sorted(totals.items())]
    return post(
        Plan(
            currency=currency,
            kind=_kind(kind, AWARD_KINDS, "award"),
            idempotency_key=check_key(idempotency_key),
            reason=check_reason(reason),
            context=check_context(context),
            actor_id=_actor_id(actor),
            legs=(*legs, Leg(None, ISSUANCE, -total)),
        ),
        grant=grant_due,
    )


def spend(
    member,
    amount,
    *,
    currency: str = "points",
    kind: str = TransferKind.SPEND,
    sink: str,
    reason: str,
    idempotency_key: str,
    actor=None,
    context=None,
) -> Transfer:
    """Take `amount` from `member`'s available balance into the system account `sink`.

    Raises `InsufficientFunds` (writing nothing) when balance minus open holds is short."""
    amount = check_amount(amount)
    return post(
        Plan(
            currency=currency,
            kind=_kind(kind, SPEND_KINDS, "spend"),
            idempotency_key=check_key(idempotency_key),
            reason=check_reason(reason),
            context=check_context(context),
            actor_id=_actor_id(actor),
            legs=(Leg(member_id_of(member), None, -amount), Leg(None, sink_account(sink), amount)),
        ),
        grant=grant_due,
    )


def transfer(
    from_member,
    to_member,
    amount,
    *,
    currency: str = "points",
    reason: str,
    idempotency_key: str,
    actor=None,
    context=None,
) -> Transfer:
    """Move `amount` between two members' wallets (both locked, in id order)."""
    amount = check_amount(amount)
    source, target = member_id_of(from_member), member_id_of(to_member)
    if source == target:
        raise InvalidRequest("a transfer needs two different members")
    return post(
        Plan(
            currency=currency,
            kind=TransferKind.TRANSFER,
            idempotency_key=check_key(idempotency_key),
            reason=check_reason(reason),
            context=check_context(context),
            actor_id=_actor_id(actor),
            legs=(Leg(source, None, -amount), Leg(target, None, amount)),
        ),
        grant=grant_due,
    )


def reverse(
    original: Transfer, *, reason: str, idempotency_key: str, actor=None, context=None
) -> Transfer:
    """Post the transfer that undoes `original`, posting for posting.

    Raises `AlreadyReversed` if it has been reversed (under another key),
    `InsufficientFunds` if a wallet no longer holds what it was given, `InvalidReversal`
    for a reversal."""
    key, reason, context = check_key(idempotency_key), check_reason(reason), check_context(context)
    original = Transfer.objects.filter(pk=getattr(original, "pk", None)).first()
    if original is None:
        raise InvalidRequest("reverse needs a saved transfer")
    if original.kind == TransferKind.REVERSAL:
        raise InvalidReversal(f"transfer {original.pk} is a reversal; post a new transfer")
    rows = list(
        original.postings.order_by("id").values_list(
            "account__member_id", "account__name", "amount", "account__currency__code"
        )
    )
    currencies = {code for *_, code in rows}
    if len(currencies) != 1:
        raise InvalidReversal(f"transfer {original.pk} is not a single-currency transfer")
    return post(
        Plan(
            currency=currencies.pop(),
            kind=TransferKind.REVERSAL,
            idempotency_key=key,
            reason=reason,
            context=context,
            actor_id=_actor_id(actor),
            legs=tuple(
                Leg(member_id, None if member_id else name, -amount)
                for member_id, name, amount, _ in rows
            ),
            reverses_id=original.pk,
        ),
        grant=grant_due,
    )


# --- holds ----------------------------------------------------------------------------


def _wallet_id(member_id: int, currency: str) -> int:
    """The member's wallet in `currency`, opened if need be."""
    check_currency(currency)
    currency_id = Currency.objects.filter(code=currency).values_list("id", flat=True).first()
    if currency_id is None:
        raise UnknownCurrency(f"no currency {currency!r}")
    open_accounts(currency_id, [Leg(member_id, None, 0)])
    wallet = Account.objects.filter(member_id=member_id, currency_id=currency_id).first()
    if wallet is None:
        raise InvalidRequest(f"no member {member_id}")
    return wallet.pk


@transaction.atomic
def hold(
    member,
    amount,
    *,
    currency: str = "points",
    sink: str,
    reason: str,
    idempotency_key: str,
    expires_at: datetime,
    actor=None,
    context=None,
) -> Hold:
    """Reserve `amount` of `member`'s available balance until `capture`, `release` or
    `expires_at` (after which a beat task releases it as expired)."""
    amount = check_amount(amount)
    key, reason, context = (
        check_key(idempotency_key, transfer=False),
        check_reason(reason),
        check_context(context),
    )
    sink_name = sink_account(sink)
    member_id = member_id_of(member)
    now = timezone.now()
    if not isinstance(expires_at, datetime) or timezone.is_naive(expires_at):
        raise InvalidRequest("expires_at is an aware datetime")
    request = {
        "member": member_id,
        "currency": currency,
        "amount": amount,
        "sink": sink_name,
        "reason": reason,
        "context": context,
        "expires_at": expires_at,
    }
    # A replay is answered first: the same request after the hold expired still returns it.
    existing = _hold_by_key(key)
    if existing is not None:
        return _replayed_hold(existing, key, request)
    if expires_at <= now:
        raise InvalidRequest("a hold must expire in the future")
    wallet_id = _wallet_id(member_id, currency)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.statement("hold_insert"),
            {
                "account": wallet_id,
                "amount": amount,
                "sink": sink_name,
                "key": key,
                "reason": reason,
                "context": Hold._meta.get_field("context").get_db_prep_value(context, connection),
                "actor": _actor_id(actor),
                "now": connection.ops.adapt_datetimefield_value(now),
                "expires_at": connection.ops.adapt_datetimefield_value(expires_at),
            },
        )
        row = cursor.fetchone()
        if row is None:  # a concurrent call with this key committed first
            return _replayed_hold(_hold_by_key(key), key, request)
        cursor.execute(_HOLD_PLACE_SQL, {"amount": amount, "account": wallet_id})
        covered = cursor.fetchone()
    if covered is None:
        available = Account.objects.get(pk=wallet_id).available
        raise InsufficientFunds(
            f"member {member.pk} has {available} {currency} available, {amount} needed"
        )
    placed = Hold.objects.get(pk=row[0])
    _publish_hold("ledger.hold_placed", placed, currency, covered[0], covered[1], actor)
    return placed


def _hold_by_key(key: str) -> Hold | None:
    return Hold.objects.select_related("account__currency").filter(idempotency_key=key).first()


def _replayed_hold(existing: Hold, key: str, request: dict) -> Hold:
    """The hold a key made, if `request` is the one it was made for."""
    original = {
        "member": existing.account.member_id,
        "currency": existing.account.currency.code,
        "amount": existing.amount,
        "sink": existing.sink,
        "reason": existing.reason,
        "context": existing.context,
        "expires_at": existing.expires_at,
    }
    differing = [name for name, value in request.items() if original[name] != value]
    if differing:
        raise IdempotencyConflict(key, differing, existing)
    return existing


def _publish_hold(kind: str, hold: Hold, currency: str, balance: int, held: int, actor) -> None:
    member_id = Account.objects.filter(pk=hold.account_id).values_list("member_id", flat=True)[0]
    events.publish(
        kind,
        payloads.hold_changed(
            hold_id=hold.pk,
            member_id=member_id,
            currency=currency,
            amount=hold.amount,
            sink=hold.sink,
            status=hold.status,
            balance=balance,
            held=held,
            transfer_id=hold.transfer_id,
        ),
        actor=actor,
        subject=f"hold:{hold.pk}",
    )


def _lock_hold(hold: Hold) -> tuple[Hold, str]:
    locked = (
        Hold.objects.select_for_update(of=("self",))
        .select_related("account__currency")
        .get(pk=hold.pk)
    )
    return locked, locked.account.currency.code


@transaction.atomic
def capture(hold: Hold, *, actor=None) -> Transfer:
    """Turn a pending hold into a spend to its sink. Capturing it again returns the same
    transfer; a released or expired hold raises `HoldNotPending` (`HoldExpired`)."""
    locked, currency = _lock_hold(hold)
    if locked.status == HoldStatus.CAPTURED:
        captured = locked.transfer
        captured.replayed, captured.event, captured.balances = True, None, {}
        return captured
    if locked.status == HoldStatus.EXPIRED:
        raise HoldExpired(f"hold {locked.pk} expired at {locked.expires_at:%Y-%m-%d %H:%M:%S}")
    if locked.status != HoldStatus.PENDING:
        raise HoldNotPending(f"hold {locked.pk} is {locked.status}")
    now = timezone.now()
    if locked.expires_at <= now:
        raise HoldExpired(f"hold {locked.pk} expired at {locked.expires_at:%Y-%m-%d %H:%M:%S}")
    member_id = locked.account.member_id
    spent = post(
        Plan(
            currency=currency,
            kind=TransferKind.SPEND,
            idempotency_key=SystemKey(f"hold:{locked.pk}:capture"),
            reason=locked.reason,
            context={**locked.context, "hold_id": locked.pk},
            actor_id=_actor_id(actor),
            legs=(
                Leg(member_id, None, -locked.amount, held_delta=-locked.amount),
                Leg(None, locked.sink, locked.amount),
            ),
        ),
        grant=grant_due,
    )
    Hold.objects.filter(pk=locked.pk).update(
        status=HoldStatus.CAPTURED, settled_at=now, transfer=spent
    )
    locked.refresh_from_db()
    wallet = Account.objects.get(pk=locked.account_id)
    _publish_hold("ledger.hold_captured", locked, currency, wallet.balance, wallet.held, actor)
    return spent


@transaction.atomic
def release(hold: Hold, *, actor=None, status: str = HoldStatus.RELEASED) -> Hold:
    """Free a pending hold's amount. Releasing a released or expired hold returns it as
    it is; a captured one raises `HoldNotPending`."""
    if status not in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
        raise InvalidRequest(f"a hold is released or expired, not {status!r}")
    locked, currency = _lock_hold(hold)
    if locked.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
        return locked
    if locked.status != HoldStatus.PENDING:
        raise HoldNotPending(f"hold {locked.pk} is {locked.status}")
    Hold.objects.filter(pk=locked.pk).update(status=status, settled_at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            sql.statement("hold_settle"), {"amount": locked.amount, "account": locked.account_id}
        )
        balance, held = cursor.fetchone()
    locked.refresh_from_db()
    kind = "ledger.hold_expired" if status == HoldStatus.EXPIRED else "ledger.hold_released"
    _publish_hold(kind, locked, currency, balance, held, actor)
    return locked


def expire_holds(*, now: datetime | None = None, batch: int = 500) -> int:
    """Release every pending hold past its expiry as `expired`; returns how many.

    One transaction per hold, so the sweep holds one wallet lock at a time and never
    deadlocks with transfers locking wallets in id order. Holds another worker is
    settling are skipped (and paged past) and picked up next time."""
    now = now or timezone.now()
    expired, after = 0, Q()
    while True:
        due = list(
            Hold.objects.filter(after, status=HoldStatus.PENDING, expires_at__lte=now)
            .order_by("expires_at", "pk")
            .values_list("pk", "expires_at")[:batch]
        )
        for pk, _ in due:
            with transaction.atomic():
                pending = (
                    Hold.objects.select_for_update(skip_locked=True)
                    .filter(pk=pk, status=HoldStatus.PENDING)
                    .first()
                )
                if pending is not None:
                    release(pending, status=HoldStatus.EXPIRED)
                    expired += 1
        if len(due) < batch:
            return expired
        last_pk, last_at = due[-1]
        after = Q(expires_at__gt=last_at) | Q(expires_at=last_at, pk__gt=last_pk)


# --- registration ---------------------------------------------------------------------


def open_wallets(member, *, referrer=None, actor=None) -> list[Account]:
    """Open `member`'s wallets in every currency that opens on signup, pay each signup
    bonus and, to `referrer`, each referral bonus (deterministic keys: at most once).
    Returns the member's wallets."""
    member_id = member_id_of(member)
    with _transaction():
        signup(member_id, referrer=referrer, actor=actor)
    return list(Account.objects.filter(member_id=member_id).order_by("currency_id"))


def signup(member_id: int, *, referrer=None, actor=None) -> None:
    """`open_wallets` without reading the wallets back: what registration runs, inside
    its transaction (two statements and one posting statement per bonus)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql.statement("signup_wallets_open"), {"member": member_id, "now": now})
        cursor.execute(sql.statement("signup_bonuses"))
        bonuses = cursor.fetchall()
    member = Ref(member_id)
    for code, signup_bonus, referral_bonus in bonuses:
        if signup_bonus:
            award(
                member,
                signup_bonus,
                currency=code,
                kind=TransferKind.BONUS,
                reason="Welcome bonus",
                idempotency_key=SystemKey(f"signup:{member_id}:{code}"),
                actor=actor,
            )
        if referrer is not None and referral_bonus:
            award(
                referrer,
                referral_bonus,
                currency=code,
                kind=TransferKind.REFERRAL_BONUS,
                reason=f"Referred member {member_id}",
                idempotency_key=SystemKey(f"referral:{member_id}:{code}"),
                actor=actor,
                context={"referred_member_id": member_id},
            )


def _transaction():
    """The caller's transaction if there is one, else a new one (no savepoint: nothing
    in here needs to survive its own failure inside a caller's transaction)."""
    return nullcontext() if connection.in_atomic_block else transaction.atomic()


HOLD_EXPIRY_GRACE = timedelta(minutes=5)

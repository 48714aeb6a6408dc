"""The ledger's write path: one plan of postings, written as one transfer.

Every action that moves value (`award`, `spend`, `transfer`, `reverse`, `award_many`,
`capture`) builds a `Plan` (`ledger.plans`) and calls `post`. On PostgreSQL the whole
transfer is one statement (one round trip): resolve the accounts, insert the transfer
unless its idempotency key exists, lock the wallets in id order, update them only where
the available balance covers the change, insert the postings and the event. On SQLite
the same steps run one statement at a time. Anything short of a complete transfer raises,
and the surrounding `atomic` leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from config.db import Ref, prepared_row
from events import log as event_log
from events.models import Event
from events.payloads import sql_object
from ledger import payloads, sql
from ledger.exceptions import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    UnknownCurrency,
    UnknownMember,
)
from ledger.models import Account, Transfer
from ledger.plans import Leg, Plan, check_currency, describe, differences, request_hash

logger = logging.getLogger(__name__)

EVENT_KIND = "ledger.transfer_posted"
PREPARED_LEGS = 8  # plans up to this many postings use the prepared, generic-plan statement


# --- the write ------------------------------------------------------------------------


@dataclass
class Outcome:
    currency_id: int | None
    ready: bool  # every account of the plan exists
    transfer_id: int | None  # None: the key (or the reversed transfer) was taken
    event: Event | None
    due_achievements: list[tuple[int, int]]  # (member id, achievement id) now reached
    created_at: Any


class _Short(Exception):
    """A wallet could not cover its change; nothing of the transfer was kept."""


SHORT_SQLSTATE = "CL001"  # raised by ledger_short() (migration 0004)


# --- a rider: the caller's own row, written by the transfer's statement ----------------


@dataclass
class Rider:
    """One row of the caller's, written by the transfer's own statement (PostgreSQL, no
    transaction around it): both commit together, in one round trip, or neither does.

    `insert` is an `INSERT ... SELECT ... FROM transfer, covered WHERE covered.ok
    RETURNING ...` over the statement's CTEs (`ledger/sql/post.pg.sql`: `transfer`,
    `legs`, `wallets`, `event`, `covered`) and parameters, with `%(name)s` parameters of
    its own from `params(now)` (`now`: the transfer's time); the row it returns lands in
    `row`. `gate` is evaluated before the transfer is written (the API takes a lock
    there, so that its claims and this statement lock in one order). The
    API stores an idempotent request's answer this way (`api.idempotency`)."""

    insert: str
    params: Callable[[Any], dict[str, Any]]
    gate: str = "true"  # a condition evaluated before anything is written (e.g. a lock)
    row: dict[str, Any] | None = None


class RiderDeclined(Exception):
    """The transfer cannot be written in one statement with its rider (another database,
    a caller's transaction, a wallet to open, a replayed or refused transfer): nothing was
    written; the caller takes its general path."""


_RIDER: contextvars.ContextVar[Rider | None] = contextvars.ContextVar("ledger_rider", default=None)


@contextlib.contextmanager
def riding(rider: Rider):
    """The next `post` in this block (only that one: not the rewards its grant pays)
    writes `rider`'s row with its transfer, or writes nothing and raises
    `RiderDeclined` (or the database's error, e.g. the rider's row violating a unique
    constraint: the statement, the transfer with it, is undone)."""
    token = _RIDER.set(rider)
    try:
        yield rider
    finally:
        _RIDER.reset(token)


def post(plan: Plan, *, grant: Callable[..., None]) -> Transfer:
    """Write `plan` as one transfer, or return the transfer its key already made.

    On PostgreSQL outside a transaction the posting statement is its own transaction: it
    is atomic by itself (it aborts when a wallet falls short), so an award is one round
    trip, without BEGIN and COMMIT. Otherwise it runs in `transaction.atomic()` (a
    savepoint inside the caller's transaction), whose rollback leaves nothing behind.

    The statement also finds the balance achievements the transfer reached; `grant`
    (`ledger.achievements.grant_due`, passed by every caller) grants them. It is passed,
    not imported: granting pays its reward through `post` again, and so the ledger reads
    one way, plans → posting → achievements → actions."""
    if sum(leg.delta for leg in plan.legs) != 0:
        raise LedgerError("a transfer's postings must sum to zero")
    check_currency(plan.currency)
    digest = request_hash(plan.request())
    rider = _RIDER.get()
    if rider is not None:
        _RIDER.set(None)  # this post's alone: the grant's rewards post on their own
        return _post_riding(plan, digest, rider, grant)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        try:
            outcome = _write_postgresql(plan, digest)
        except _Short:
            raise InsufficientFunds(_shortfall(plan)) from None
        if outcome.currency_id is not None and outcome.ready:
            transfer = _answer(plan, digest, outcome)
            _grant_committed(plan, outcome, grant)
            return transfer
        # An account to open first: the general path below, in a transaction.
    # Inside a caller's transaction a plan that only adds to wallets needs no savepoint
    # once its accounts exist: its statement writes all or nothing, and what can refuse
    # it (a replay conflict, a reversed original) leaves nothing written.
    only_adds = all(
        leg.member_id is None or (leg.delta >= 0 and leg.held_delta >= 0) for leg in plan.legs
    )
    if only_adds and connection.in_atomic_block:
        outcome = _write(plan, digest)
        if outcome.currency_id is not None and outcome.ready:
            transfer = _answer(plan, digest, outcome)
            if outcome.due_achievements:
                grant(outcome.due_achievements, actor_id=plan.actor_id)
            return transfer
    try:
        with transaction.atomic():
            outcome = _write(plan, digest)
            if outcome.currency_id is None:
                raise UnknownCurrency(f"no currency {plan.currency!r}")
            if not outcome.ready:
                open_accounts(outcome.currency_id, plan.legs)
                outcome = _write(plan, digest)
                if not outcome.ready:  # open_accounts opens wallets of members only
                    members = sorted({leg.member_id for leg in plan.legs if leg.member_id})
                    raise UnknownMember(
                        "a member this transfer names does not exist"
                        f" (among {', '.join(map(str, members))})"
                    )
            transfer = _answer(plan, digest, outcome)
            if outcome.due_achievements:
                grant(outcome.due_achievements, actor_id=plan.actor_id)
            return transfer
    except _Short:
        # Rolled back (to the savepoint, inside a caller's transaction): readable again.
        raise InsufficientFunds(_shortfall(plan)) from None


def _post_riding(plan: Plan, digest: str, rider: Rider, grant) -> Transfer:
    """`post` with a rider: its one statement, or nothing at all (`RiderDeclined`)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        raise RiderDeclined("a rider needs PostgreSQL and no transaction around it")
    try:
        outcome = _write_postgresql(plan, digest, rider)
    except _Short:
        raise RiderDeclined("a wallet falls short") from None
    if outcome.transfer_id is None or rider.row is None:
        raise RiderDeclined("no transfer written (an account to open, or its key was taken)")
    transfer = _answer(plan, digest, outcome)
    _grant_committed(plan, outcome, grant)
    return transfer


def _grant_committed(plan: Plan, outcome: Outcome, grant) -> None:
    """Grant the achievements a committed transfer reached. A failing grant must not look
    like a failed transfer; it is not lost: the next posting to the wallet finds it due."""
    if not outcome.due_achievements:
        return
    try:
        grant(outcome.due_achievements, actor_id=plan.actor_id)
    except Exception:
        logger.exception(
            "granting %s after %s failed", outcome.due_achievements, plan.idempotency_key
        )


def _answer(plan: Plan, digest: str, outcome: Outcome) -> Transfer:
    """The transfer written, or the one its key already made, or the refusal."""
    if outcome.transfer_id is None:
        return _replay(plan, digest)
    transfer = Transfer(
        id=outcome.transfer_id,
        kind=plan.kind,
        idempotency_key=plan.idempotency_key,
        request_hash=digest,
        reason=plan.reason,
        context=plan.context,
        actor_id=plan.actor_id,
        created_at=outcome.created_at,
        reverses_id=plan.reverses_id,
    )
    transfer._state.adding = False
    transfer._state.db = connection.alias
    transfer.event = outcome.event
    transfer.balances = {
        p["member_id"]: p["balance"] for p in outcome.event.data["postings"] if p["member_id"]
    }
    transfer.replayed = False
    return transfer


def _write(plan: Plan, digest: str) -> Outcome:
    if connection.vendor == "postgresql":
        return _write_postgresql(plan, digest)
    return _write_stepwise(plan, digest)


def _event_subject(transfer_id: int) -> str:
    return f"transfer:{transfer_id}"


# The event's data (`ledger.payloads.TransferPosted`), from the statement's `transfer`,
# `legs` and `wallets` below: the same keys as `payloads.transfer_posted` gives SQLite.
_EVENT_DATA = sql_object(
    payloads.TransferPosted,
    transfer_id="transfer.id",
    kind="%(kind)s::text",
    currency="%(currency)s::text",
    reason="%(reason)s::text",
    reverses="%(reverses)s::bigint",
    postings="(SELECT jsonb_agg("
    + sql_object(
        payloads.Posting,
        member_id="legs.member_id",
        system="legs.system",
        amount="legs.delta",
        balance="wallets.balance",
        version="wallets.version",
    )
    + " ORDER BY legs.ord) FROM legs LEFT JOIN wallets ON wallets.id = legs.account_id)",
)

# A whole transfer in one statement (PostgreSQL): ledger/sql/post.pg.sql, with the
# fragments the SQLite steps below use too.
_POST_PIECES = {
    "currency_id": sql.statement("currency_id", code="%(currency)s::text"),
    "wallet_id": sql.statement("wallet_id", member="leg.member_id", currency="cur.id"),
    "system_account_id": sql.statement("system_account_id", system="leg.system", currency="cur.id"),
    "transfer_insert": sql.statement(
        "transfer_insert",
        values="SELECT %(kind)s::text, %(key)s::text, %(hash)s::text, %(reason)s::text,"
        " %(context)s::jsonb, %(actor)s::bigint, %(now)s::timestamptz, %(reverses)s::bigint"
        " FROM ready WHERE ok",
    ),
    "covers": sql.statement("covers", wallet="a", delta="legs.delta", held_delta="legs.held_delta"),
    "posting_insert": sql.statement(
        "posting_insert",
        values="SELECT transfer.id, legs.account_id, legs.delta, wallets.balance,"
        " wallets.version FROM transfer, covered, legs LEFT JOIN wallets"
        " ON wallets.id = legs.account_id WHERE covered.ok ORDER BY legs.ord",
    ),
    "due": sql.statement(
        "balance_achievements_due",
        member="legs.member_id",
        currency="(SELECT id FROM cur)",
        balance="wallets.balance",
    ),
    "event_columns": event_log.INSERT_COLUMNS,
    "event_data": _EVENT_DATA,
}


@functools.cache
def _post_sql(rider: str = "", gate: str = "true") -> str:
    """The posting statement; with a rider's gate and CTE (`Rider`), writing its row too."""
    if not rider:
        return sql.statement("post.pg", gate=gate, rider="", rider_row="NULL::text", **_POST_PIECES)
    return sql.statement(
        "post.pg",
        gate=gate,
        rider=f", rider AS ({rider})",
        rider_row="(SELECT row_to_json(rider)::text FROM rider)",
        **_POST_PIECES,
    )


_POST_SQL = _post_sql()

# The same steps on SQLite, one statement each.
_CURRENCY_SQL = sql.statement("currency_id", code="%(code)s")
_WALLET_SQL = sql.statement("wallet_id", member="%(member)s", currency="%(currency)s")
_SYSTEM_SQL = sql.statement("system_account_id", system="%(name)s", currency="%(currency)s")
_TRANSFER_SQL = sql.statement(
    "transfer_insert",
    values="VALUES (%(kind)s, %(key)s, %(hash)s, %(reason)s, %(context)s, %(actor)s, %(now)s,"
    " %(reverses)s)",
)
_MOVE_SQL = sql.statement(
    "wallet_move",
    covers=sql.statement(
        "covers", wallet="ledger_account", delta="%(delta)s", held_delta="%(held_delta)s"
    ),
)
_POSTING_SQL = sql.statement("posting_insert", values="VALUES (%s, %s, %s, %s, %s)")
_DUE_SQL = sql.statement(
    "balance_achievements_due", member="%(member)s", currency="%(currency)s", balance="%(balance)s"
)


def _write_postgresql(plan: Plan, digest: str, rider: Rider | None = None) -> Outcome:
    now = timezone.now()
    params = {
        "currency": plan.currency,
        "members": [leg.member_id for leg in plan.legs],
        "systems": [leg.system for leg in plan.legs],
        "deltas": [leg.delta for leg in plan.legs],
        "held": [leg.held_delta for leg in plan.legs],
        "legs": len(plan.legs),
        "wallets": sum(1 for leg in plan.legs if leg.member_id is not None),
        "event_kind": EVENT_KIND,
        **_transfer_params(plan, digest, now),
    }
    statement = _POST_SQL
    if rider is not None:
        extra = rider.params(now)
        if taken := extra.keys() & params.keys():
            raise ValueError(f"a rider's parameters shadow the transfer's: {sorted(taken)}")
        params.update(extra)
        statement = _post_sql(rider.insert, rider.gate)
    try:
        if len(plan.legs) <= PREPARED_LEGS:
            # Prepared, with a generic plan (the connection sets plan_cache_mode, see
            # settings): planning this statement cost more server CPU than running it.
            row = prepared_row(statement, params)
        else:  # a big award_many: a plan made for its size beats the generic one
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                row = cursor.fetchone()
    except DatabaseError as error:
        _raise_short_if(error)
        raise
    currency_id, ready, transfer_id, _, seq, data, due, rider_row = row
    if rider is not None:
        rider.row = json.loads(rider_row) if rider_row else None
    event = None
    if seq is not None:
        event = event_log.adopt(
            seq=seq,
            kind=EVENT_KIND,
            actor_id=plan.actor_id,
            subject=_event_subject(transfer_id),
            data=json.loads(data),
            created_at=now,
        )
    return Outcome(
        currency_id=currency_id,
        ready=bool(ready),
        transfer_id=transfer_id,
        event=event,
        due_achievements=[tuple(pair) for pair in json.loads(due)] if due else [],
        created_at=now,
    )


def _raise_short_if(error: DatabaseError) -> None:
    if getattr(error.__cause__, "sqlstate", None) == SHORT_SQLSTATE:
        raise _Short() from error


def _write_stepwise(plan: Plan, digest: str) -> Outcome:
    """The same steps as `_POST_SQL`, one statement each (SQLite has no writing CTEs)."""
    now = timezone.now()
    outcome = Outcome(None, False, None, None, [], now)
    with connection.cursor() as cursor:
        cursor.execute(_CURRENCY_SQL, {"code": plan.currency})
        row = cursor.fetchone()
        if row is None:
            return outcome
        outcome.currency_id = currency_id = row[0]
        account_ids = [_account_id(cursor, currency_id, leg) for leg in plan.legs]
        if None in account_ids:
            return outcome
        outcome.ready = True
        outcome.transfer_id = transfer_id = _insert_transfer(cursor, plan, digest, now)
        if transfer_id is None:
            return outcome
        wallet_legs = sorted(
            (account_id, leg)
            for account_id, leg in zip(account_ids, plan.legs, strict=True)
            if leg.member_id is not None
        )
        after = _move_wallets(cursor, wallet_legs)
        cursor.executemany(
            _POSTING_SQL,
            [
                [transfer_id, account_id, leg.delta, *after.get(account_id, (None, None))]
                for account_id, leg in zip(account_ids, plan.legs, strict=True)
            ],
        )
        outcome.due_achievements = _balance_achievements_due(
            cursor, currency_id, wallet_legs, after
        )
    outcome.event = _publish_posted(plan, transfer_id, account_ids, after)
    return outcome


def _transfer_params(plan: Plan, digest: str, now) -> dict[str, Any]:
    """The parameters of `transfer_insert.sql`, on either path."""
    return {
        "kind": plan.kind,
        "key": plan.idempotency_key,
        "hash": digest,
        "reason": plan.reason,
        "context": json.dumps(plan.context),
        "actor": plan.actor_id,
        "now": now,
        "reverses": plan.reverses_id,
    }


def _insert_transfer(cursor, plan: Plan, digest: str, now) -> int | None:
    """The transfer row's id; None when its idempotency key is taken (a replay)."""
    cursor.execute(
        _TRANSFER_SQL, _transfer_params(plan, digest, connection.ops.adapt_datetimefield_value(now))
    )
    row = cursor.fetchone()
    return None if row is None else row[0]


def _move_wallets(cursor, wallet_legs) -> dict[int, tuple[int, int]]:
    """Each wallet's (balance, version) after its leg, in account order; `_Short` (the
    caller's atomic rolls the transfer back) when a leg would spend held or missing funds."""
    after: dict[int, tuple[int, int]] = {}
    for account_id, leg in wallet_legs:
        cursor.execute(
            _MOVE_SQL, {"delta": leg.delta, "held_delta": leg.held_delta, "account": account_id}
        )
        row = cursor.fetchone()
        if row is None:
            raise _Short()
        after[account_id] = row
    return after


def _balance_achievements_due(cursor, currency_id: int, wallet_legs, after) -> list:
    """(member id, achievement id) of each balance achievement a credited wallet now
    reaches and its member does not hold yet."""
    due = []
    for account_id, leg in wallet_legs:
        if leg.delta > 0:
            cursor.execute(
                _DUE_SQL,
                {"currency": currency_id, "balance": after[account_id][0], "member": leg.member_id},
            )
            due += [(leg.member_id, achievement_id) for (achievement_id,) in cursor.fetchall()]
    return due


def _publish_posted(plan: Plan, transfer_id: int, account_ids, after):
    """The `ledger.transfer_posted` event of the transfer just written."""
    postings = []
    for account_id, leg in zip(account_ids, plan.legs, strict=True):
        balance, version = after.get(account_id, (None, None))
        postings.append(
            payloads.posting(
                member_id=leg.member_id,
                system=leg.system,
                amount=leg.delta,
                balance=balance,
                version=version,
            )
        )
    return event_log.publish(
        EVENT_KIND,
        payloads.transfer_posted(
            transfer_id=transfer_id,
            kind=plan.kind,
            currency=plan.currency,
            reason=plan.reason,
            reverses=plan.reverses_id,
            postings=postings,
        ),
        actor=Ref(plan.actor_id) if plan.actor_id else None,
        subject=_event_subject(transfer_id),
    )


def _account_id(cursor, currency_id: int, leg: Leg) -> int | None:
    if leg.member_id is not None:
        cursor.execute(_WALLET_SQL, {"member": leg.member_id, "currency": currency_id})
    else:
        cursor.execute(_SYSTEM_SQL, {"name": leg.system, "currency": currency_id})
    row = cursor.fetchone()
    return row[0] if row else None


def open_accounts(currency_id: int, legs) -> None:
    """Open the wallets and system accounts `legs` name that do not exist yet."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    members = sorted({leg.member_id for leg in legs if leg.member_id is not None})
    systems = sorted({leg.system for leg in legs if leg.member_id is None})
    with connection.cursor() as cursor:
        # Sorted, so two transactions opening the same accounts take them in one order.
        # Wallets only for members that exist (the foreign key would only say so at
        # commit); the caller sees the account still missing and refuses.
        for member_id in members:
            cursor.execute(
                sql.statement("wallet_open"),
                {"currency": currency_id, "member": member_id, "now": now},
            )
        for name in systems:
            cursor.execute(
                sql.statement("system_account_open"),
                {"currency": currency_id, "name": name, "now": now},
            )


def _shortfall(plan: Plan) -> str:
    """Which wallet could not cover its change (read after the failed write; the caller
    is about to roll back)."""
    for leg in plan.legs:
        if leg.member_id is None or leg.delta >= 0:
            continue
        wallet = Account.objects.filter(
            member_id=leg.member_id, currency__code=plan.currency
        ).first()
        available = wallet.available if wallet else 0
        needed = -leg.delta - (-leg.held_delta if leg.held_delta < 0 else 0)
        if available < needed:
            return (
                f"member {leg.member_id} has {available} {plan.currency} available, {needed} needed"
            )
    return f"a wallet cannot cover {plan.idempotency_key!r}"


def _replay(plan: Plan, digest: str) -> Transfer:
    existing = Transfer.objects.filter(idempotency_key=plan.idempotency_key).first()
    if existing is None:
        # The key is new, so the conflict was the reversed transfer's: reversed already.
        raise AlreadyReversed(f"transfer {plan.reverses_id} has been reversed already")
    if existing.request_hash != digest:
        raise IdempotencyConflict(
            plan.idempotency_key, differences(describe(existing), plan.request()), existing
        )
    existing.replayed = True
    existing.event = None
    existing.balances = {}
    return existing

"""The ledger against a model of itself: Hypothesis runs random sequences of awards,
spends, transfers, reversals, holds, captures, releases, expiry sweeps and replays
(same request: the same answer and nothing written; changed request:
`IdempotencyConflict`), and after every step the database must agree with a plain
in-memory model (balances, holds, totals) and with its own postings.

Each example runs inside a savepoint of the test's transaction and is rolled back to it
at teardown, so every example starts from the same members and balances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from config.db import Ref
from ledger.actions import award, capture, expire_holds, hold, release, reverse, spend
from ledger.actions import transfer as move
from ledger.exceptions import (
    AlreadyReversed,
    HoldExpired,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidReversal,
)
from ledger.models import Currency
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MEMBERS = 4
SINKS = ("shop", "reading")
amounts = st.integers(min_value=1, max_value=150)  # above a wallet's bonus, at times
who = st.integers(min_value=0, max_value=MEMBERS - 1)
sinks = st.sampled_from(SINKS)


@dataclass
class Sent:
    """A transfer the model knows of, with the call that made it (for replays)."""

    id: int
    kind: str
    call: tuple  # ("award" | "spend" | "transfer", args...) or ("reverse", target key)
    members: dict[int, int]  # member index -> delta
    systems: dict[str, int]  # system account -> delta
    reversed: bool = False


@dataclass
class Held:
    id: int
    member: int
    amount: int
    sink: str
    expires_at: object
    status: str = "pending"
    capture_key: str | None = None


@dataclass
class Books:
    balance: dict[int, int]
    held: dict[int, int] = field(default_factory=dict)
    issued: int = 0
    sunk: int = 0


def rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def db_totals() -> tuple[int, int, int, int]:
    """(issued, sunk, sum of wallets) in points, from the postings and the wallets, and
    how many transfers do not sum to zero."""
    ((issued, sunk, wallets, unbalanced),) = rows(
        """
        SELECT
          (SELECT -COALESCE(SUM(p.amount), 0) FROM ledger_posting p
             JOIN ledger_account a ON a.id = p.account_id JOIN ledger_currency c
               ON c.id = a.currency_id
            WHERE c.code = 'points' AND a.member_id IS NULL AND a.name = 'issuance'),
          (SELECT COALESCE(SUM(p.amount), 0) FROM ledger_posting p
             JOIN ledger_account a ON a.id = p.account_id JOIN ledger_currency c
               ON c.id = a.currency_id
            WHERE c.code = 'points' AND a.member_id IS NULL AND a.name LIKE 'sink:%'),
          (SELECT COALESCE(SUM(a.balance), 0) FROM ledger_account a JOIN ledger_currency c
               ON c.id = a.currency_id
            WHERE c.code = 'points' AND a.member_id IS NOT NULL),
          (SELECT COUNT(*) FROM (SELECT transfer_id FROM ledger_posting GROUP BY transfer_id
                                 HAVING SUM(amount) <> 0) unbalanced)
        """
    )
    return issued, sunk, wallets, unbalanced


def db_wallets() -> dict[int, tuple[int, int]]:
    """member id -> (balance, held) of the points wallets."""
    return {
        member_id: (balance, held)
        for member_id, balance, held in rows(
            "SELECT a.member_id, a.balance, a.held FROM ledger_account a"
            " JOIN ledger_currency c ON c.id = a.currency_id"
            " WHERE c.code = 'points' AND a.member_id IS NOT NULL"
        )
    }


def fingerprint() -> tuple:
    """Everything a replay must leave as it was."""
    return (
        rows(
            "SELECT (SELECT COUNT(*) FROM ledger_transfer), (SELECT COUNT(*) FROM ledger_posting),"
            " (SELECT COUNT(*) FROM ledger_hold), (SELECT COUNT(*) FROM events_event),"
            " (SELECT COUNT(*) FROM ledger_account)"
        ),
        rows("SELECT id, balance, held, version FROM ledger_account ORDER BY id"),
        rows("SELECT id, status FROM ledger_hold ORDER BY id"),
    )


class LedgerMachine(RuleBasedStateMachine):
    members: list[int] = []  # set by the test: member ids, registered once

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        wallets = db_wallets()
        self.books = Books(
            balance={n: wallets[pk][0] for n, pk in enumerate(self.members)},
            held={n: wallets[pk][1] for n, pk in enumerate(self.members)},
        )
        self.books.issued, self.books.sunk, _, _ = db_totals()
        self.transfers: dict[str, Sent] = {}
        self.holds: dict[str, Held] = {}
        self.serial = 0

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    # --- helpers --------------------------------------------------------------------

    def key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}:{self.serial}"

    def available(self, n: int) -> int:
        return self.books.balance[n] - self.books.held[n]

    def apply(self, members: dict[int, int], systems: dict[str, int]) -> None:
        for n, delta in members.items():
            self.books.balance[n] += delta
        for name, delta in systems.items():
            if name == "issuance":
                self.books.issued -= delta
            else:
                self.books.sunk += delta

    def covers(self, members: dict[int, int]) -> bool:
        """Whether every wallet can take its change without going below its holds."""
        return all(self.books.balance[n] + d >= self.books.held[n] for n, d in members.items())

    def call(self, call: tuple, key: str):
        """Issue a transfer request: (action, args...) under `key`."""
        action, *args = call
        if action == "award":
            n, amount = args
            return award(Ref(self.members[n]), amount, reason="model award", idempotency_key=key)
        if action == "spend":
            n, amount, sink = args
            return spend(
                Ref(self.members[n]), amount, sink=sink, reason="model spend", idempotency_key=key
            )
        if action == "transfer":
            source, target, amount = args
            return move(
                Ref(self.members[source]),
                Ref(self.members[target]),
                amount,
                reason="model gift",
                idempotency_key=key,
            )
        (target,) = args
        return reverse(Ref(self.transfers[target].id), reason="model undo", idempotency_key=key)

    def effect(self, call: tuple) -> tuple[dict[int, int], dict[str, int]]:
        action, *args = call
        if action == "award":
            n, amount = args
            return {n: amount}, {"issuance": -amount}
        if action == "spend":
            n, amount, sink = args
            return {n: -amount}, {f"sink:{sink}": amount}
        source, target, amount = args
        return {source: -amount, target: amount}, {}

    def post(self, call: tuple) -> None:
        """A new request: written if every wallet covers it, else refused with nothing."""
        key = self.key(call[0])
        members, systems = self.effect(call)
        if not self.covers(members):
            before = fingerprint()
            with pytest.raises(InsufficientFunds):
                self.call(call, key)
            assert fingerprint() == before
            return
        done = self.call(call, key)
        assert done.replayed is False
        self.apply(members, systems)
        self.transfers[key] = Sent(done.id, call[0], call, members, systems)

    def place(self, n: int, amount: int, sink: str, key: str, expires_at):
        return hold(
            Ref(self.members[n]),
            amount,
            sink=sink,
            reason="model hold",
            idempotency_key=key,
            expires_at=expires_at,
        )

    # --- transfers ------------------------------------------------------------------

    @rule(n=who, amount=amounts)
    def award(self, n, amount):
        self.post(("award", n, amount))

    @rule(n=who, amount=amounts, sink=sinks)
    def spend(self, n, amount, sink):
        self.post(("spend", n, amount, sink))

    @rule(payer=who, payee=who, amount=amounts)
    def transfer(self, payer, payee, amount):
        assume(payer != payee)
        self.post(("transfer", payer, payee, amount))

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def reverse(self, data):
        target = data.draw(st.sampled_from(sorted(self.transfers)), label="reversed")
        original = self.transfers[target]
        key = self.key("reverse")
        before = fingerprint()
        if original.kind == "reversal":
            with pytest.raises(InvalidReversal):
                self.call(("reverse", target), key)
        elif original.reversed:
            with pytest.raises(AlreadyReversed):
                self.call(("reverse", target), key)
        else:
            members = {n: -d for n, d in original.members.items()}
            systems = {name: -d for name, d in original.systems.items()}
            if not self.covers(members):
                with pytest.raises(InsufficientFunds):
                    self.call(("reverse", target), key)
            else:
                done = self.call(("reverse", target), key)
                assert done.replayed is False
                assert done.reverses_id == original.id
                original.reversed = True
                self.apply(members, systems)
                self.transfers[key] = Sent(
                    done.id, "reversal", ("reverse", target), members, systems
                )
                return
        assert fingerprint() == before

    # --- holds ----------------------------------------------------------------------

    @rule(n=who, amount=amounts, sink=sinks)
    def hold(self, n, amount, sink):
        key = self.key("hold")
        expires_at = timezone.now() + timedelta(hours=1)
        if self.available(n) < amount:
            before = fingerprint()
            with pytest.raises(InsufficientFunds):
                self.place(n, amount, sink, key, expires_at)
            assert fingerprint() == before
            return
        placed = self.place(n, amount, sink, key, expires_at)
        assert (placed.status, placed.amount) == ("pending", amount)
        self.books.held[n] += amount
        self.holds[key] = Held(placed.pk, n, amount, sink, expires_at)

    def draw_hold(self, data, pending_only=None) -> Held:
        """A hold the model knows; pending only if asked (None: Hypothesis decides)."""
        if pending_only is None:
            pending_only = data.draw(st.booleans(), label="pending only") and any(
                h.status == "pending" for h in self.holds.values()
            )
        keys = sorted(k for k, h in self.holds.items() if h.status == "pending" or not pending_only)
        assume(keys)
        return self.holds[data.draw(st.sampled_from(keys), label="hold")]

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def capture(self, data):
        held = self.draw_hold(data)
        before = fingerprint()
        if held.status == "pending":
            spent = capture(Ref(held.id))
            assert spent.idempotency_key == f"hold:{held.id}:capture"
            held.status, held.capture_key = "captured", spent.idempotency_key
            self.books.held[held.member] -= held.amount
            members, systems = {held.member: -held.amount}, {f"sink:{held.sink}": held.amount}
            self.apply(members, systems)
            self.transfers[spent.idempotency_key] = Sent(
                spent.id, "spend", ("capture", held.id), members, systems
            )
            return
        if held.status == "captured":
            assert capture(Ref(held.id)).id == self.transfers[held.capture_key].id
        else:
            with pytest.raises(HoldNotPending):
                capture(Ref(held.id))
        assert fingerprint() == before

    @precondition(lambda self: any(h.status == "pending" for h in self.holds.values()))
    @rule(data=st.data())
    def capture_after_expiry(self, data):
        held = self.draw_hold(data, pending_only=True)
        before = fingerprint()
        late = held.expires_at + timedelta(seconds=1)
        with mock.patch("django.utils.timezone.now", return_value=late), pytest.raises(HoldExpired):
            capture(Ref(held.id))
        assert fingerprint() == before

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release(self, data):
        held = self.draw_hold(data)
        before = fingerprint()
        if held.status == "pending":
            assert release(Ref(held.id)).status == "released"
            held.status = "released"
            self.books.held[held.member] -= held.amount
            return
        if held.status == "captured":
            with pytest.raises(HoldNotPending):
                release(Ref(held.id))
        else:
            assert release(Ref(held.id)).status == held.status
        assert fingerprint() == before

    @precondition(lambda self: any(h.status == "pending" for h in self.holds.values()))
    @rule()
    def expire(self):
        pending = [h for h in self.holds.values() if h.status == "pending"]
        assert expire_holds(now=timezone.now() + timedelta(hours=2)) == len(pending)
        for held in pending:
            held.status = "expired"
            self.books.held[held.member] -= held.amount

    # --- replays --------------------------------------------------------------------

    def replayable(self) -> list[str]:
        return sorted(k for k, s in self.transfers.items() if s.call[0] != "capture")

    @precondition(lambda self: self.replayable())
    @rule(data=st.data())
    def replay(self, data):
        key = data.draw(st.sampled_from(self.replayable()), label="replayed")
        before = fingerprint()
        again = self.call(self.transfers[key].call, key)
        assert (again.id, again.replayed) == (self.transfers[key].id, True)
        assert fingerprint() == before

    @precondition(lambda self: self.transfers)
    @rule(data=st.data(), change=st.sampled_from(["amount", "member", "kind"]))
    def replay_changed(self, data, change):
        keys = sorted(
            k for k, s in self.transfers.items() if s.call[0] not in ("reverse", "capture")
        )
        assume(keys)
        key = data.draw(st.sampled_from(keys), label="replayed")
        action, *args = self.transfers[key].call
        if change == "amount":
            args[-1 if action != "spend" else 1] += 1
            changed = (action, *args)
        elif change == "member":
            args[0] = (args[0] + 1) % MEMBERS
            if action == "transfer" and args[0] == args[1]:
                args[0] = (args[0] + 1) % MEMBERS
            changed = (action, *args)
        else:  # the same member and amount, asked of another action
            n = args[0]
            amount = args[2] if action == "transfer" else args[1]
            changed = ("spend", n, amount, "shop") if action == "award" else ("award", n, amount)
        before = fingerprint()
        with pytest.raises(IdempotencyConflict) as conflict:
            self.call(changed, key)
        assert conflict.value.key == key
        assert change in conflict.value.fields, conflict.value.fields
        assert fingerprint() == before

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def reverse_under_a_used_key(self, data):
        """A reversal asked under a key that already names another transfer."""
        key = data.draw(st.sampled_from(sorted(self.transfers)), label="key")
        target = data.draw(st.sampled_from(sorted(self.transfers)), label="reversed")
        sent = self.transfers[key]
        assume(sent.call != ("reverse", target))  # that would be a plain replay
        assume(self.transfers[target].kind != "reversal")  # refused before the key is read
        before = fingerprint()
        with pytest.raises(IdempotencyConflict):
            self.call(("reverse", target), key)
        assert fingerprint() == before

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), changed=st.booleans())
    def replay_hold(self, data, changed):
        key = data.draw(st.sampled_from(sorted(self.holds)), label="hold")
        held = self.holds[key]
        before = fingerprint()
        amount = held.amount + changed
        if changed:
            with pytest.raises(IdempotencyConflict) as conflict:
                self.place(held.member, amount, held.sink, key, held.expires_at)
            assert conflict.value.fields == ["amount"]
        else:
            again = self.place(held.member, amount, held.sink, key, held.expires_at)
            assert (again.pk, again.status) == (held.id, held.status)
        assert fingerprint() == before

    # --- invariants -----------------------------------------------------------------

    @invariant()
    def wallets_match_the_model(self):
        wallets = db_wallets()
        for n, pk in enumerate(self.members):
            assert wallets[pk] == (self.books.balance[n], self.books.held[n]), n

    @invariant()
    def balances_are_their_postings(self):
        broken = rows(
            """
            SELECT a.id, a.balance, a.version, COALESCE(SUM(p.amount), 0), COUNT(p.id)
              FROM ledger_account a LEFT JOIN ledger_posting p ON p.account_id = a.id
             WHERE a.member_id IS NOT NULL
             GROUP BY a.id, a.balance, a.version
            HAVING a.balance <> COALESCE(SUM(p.amount), 0) OR a.version <> COUNT(p.id)
                OR a.held < 0 OR a.held > a.balance
            """
        )
        assert broken == []

    @invariant()
    def nothing_is_overdrawn(self):
        # The database's side is in the two invariants above (it equals the model, and
        # no wallet holds more than its balance).
        assert all(self.books.held[n] >= 0 and self.available(n) >= 0 for n in range(MEMBERS))

    @invariant()
    def issued_minus_sunk_is_in_the_wallets(self):
        issued, sunk, wallets, unbalanced = db_totals()
        assert (issued, sunk) == (self.books.issued, self.books.sunk)
        assert issued - sunk == wallets
        assert unbalanced == 0

    @invariant()
    def holds_match_the_model(self):
        statuses = dict(rows("SELECT idempotency_key, status FROM ledger_hold"))
        assert statuses == {key: held.status for key, held in self.holds.items()}


def test_the_ledger_agrees_with_its_model():
    # The default currencies survive test flushes (ledger's post_migrate recreates them).
    assert Currency.objects.filter(code="points").exists()
    LedgerMachine.members = [MemberFactory().pk for _ in range(MEMBERS)]
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

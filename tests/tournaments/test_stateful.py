"""A tournament against a model of itself: Hypothesis runs random sequences of
registrations, withdrawals, wallets emptied or topped up, check-ins and closing check-in,
and after every step the database must agree with a plain in-memory model (who holds a
slot, the waitlist in order, every balance) and pass the tournament integrity checks (and,
on PostgreSQL, the deferred constraint triggers, run as COMMIT would).

Each example runs inside a savepoint of the test's transaction, rolled back at teardown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from config.db import Ref
from integrity.registry import all_checks
from integrity.runner import run_checks
from ledger.actions import award, spend
from ledger.exceptions import InsufficientFunds
from ledger.models import Account
from tests.factories import MemberFactory, TournamentFactory
from tests.tournaments.helpers import settle
from tournaments.actions import check_in, close_check_in, open_check_in, register, withdraw
from tournaments.exceptions import NotCheckInTime, NotRegistered, RegistrationClosed
from tournaments.models import Registration

pytestmark = pytest.mark.django_db

MEMBERS, CAPACITY, FEE = 7, 3, 10
who = st.integers(min_value=0, max_value=MEMBERS - 1)
CHECKS = [c.name for c in all_checks() if c.name.startswith("tournaments.")]


@dataclass
class Model:
    phase: str = "registration"
    seated: set[int] = field(default_factory=set)
    checked_in: set[int] = field(default_factory=set)
    waitlist: list[int] = field(default_factory=list)
    balance: dict[int, int] = field(default_factory=dict)

    def fill(self, *, checked: bool) -> None:
        while len(self.seated) < CAPACITY and self.waitlist:
            n = self.waitlist.pop(0)
            if self.balance[n] >= FEE:
                self.balance[n] -= FEE
                self.seated.add(n)
                if checked:
                    self.checked_in.add(n)
            # else: dropped, nothing of theirs remains


class TournamentMachine(RuleBasedStateMachine):
    members: list[int] = []  # set by the test

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.cup = TournamentFactory(capacity=CAPACITY, entry_fee=FEE)
        self.model = Model(balance={n: self.balance_of(n) for n in range(MEMBERS)})
        self.registration: dict[int, int] = {}  # member index -> their latest registration
        self.serial = 0

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    def balance_of(self, n: int) -> int:
        wallet = Account.objects.get(member_id=self.members[n], currency__code="points")
        return wallet.balance - wallet.held

    def current(self, n: int) -> bool:
        return n in self.model.seated or n in self.model.waitlist

    @rule(n=who)
    def register(self, n):
        model = self.model
        if model.phase != "registration" and not self.current(n):  # a repeat is answered
            with pytest.raises(RegistrationClosed):
                register(self.cup, Ref(self.members[n]))
            return
        if not self.current(n) and len(model.seated) < CAPACITY and model.balance[n] < FEE:
            with pytest.raises(InsufficientFunds):
                register(self.cup, Ref(self.members[n]))
            return
        registration = register(self.cup, Ref(self.members[n]))
        assert registration.created is (not self.current(n))
        if registration.created:
            if len(model.seated) < CAPACITY:
                model.seated.add(n)
                model.balance[n] -= FEE
            else:
                model.waitlist.append(n)
        self.registration[n] = registration.pk

    @precondition(lambda self: self.registration)
    @rule(data=st.data())
    def withdraw(self, data):
        n = data.draw(st.sampled_from(sorted(self.registration)), label="member")
        pk = self.registration[n]
        if not Registration.objects.filter(pk=pk).exists():  # dropped on promotion
            return
        model = self.model
        status = Registration.objects.get(pk=pk).status
        if status in ("no_show",):
            with pytest.raises(NotRegistered):
                withdraw(Ref(pk))
            return
        if model.phase == "in_progress" and self.current(n):
            return  # TournamentStarted: covered by the action tests
        gone = withdraw(Ref(pk))
        assert gone.status == "withdrawn"
        if n in model.waitlist:
            model.waitlist.remove(n)
        elif n in model.seated:
            model.seated.discard(n)
            model.checked_in.discard(n)
            model.balance[n] += FEE
            model.fill(checked=False)

    @rule(n=who)
    def empty_wallet(self, n):
        available = self.model.balance[n]
        if available:
            self.serial += 1
            spend(
                Ref(self.members[n]),
                available,
                sink="shop",
                reason="spent",
                idempotency_key=f"spent-{self.serial}",
            )
            self.model.balance[n] = 0

    @rule(n=who)
    def top_up(self, n):
        self.serial += 1
        award(Ref(self.members[n]), 25, reason="quiz", idempotency_key=f"quiz-{self.serial}")
        self.model.balance[n] += 25

    @precondition(lambda self: self.model.phase == "registration")
    @rule()
    def open_check_in(self):
        open_check_in(self.cup)
        self.model.phase = "check_in"

    @precondition(lambda self: self.registration)
    @rule(data=st.data())
    def check_in(self, data):
        n = data.draw(st.sampled_from(sorted(self.registration)), label="member")
        pk = self.registration[n]
        if not Registration.objects.filter(pk=pk).exists():
            return
        model = self.model
        if n in model.checked_in and n in model.seated:
            assert check_in(Ref(pk)).status == "checked_in"
        elif model.phase != "check_in":
            with pytest.raises(NotCheckInTime):
                check_in(Ref(pk))
        elif n in model.seated:
            check_in(Ref(pk))
            model.checked_in.add(n)
        else:
            with pytest.raises(NotRegistered):
                check_in(Ref(pk))

    @precondition(lambda self: self.model.phase == "check_in")
    @rule()
    def close_check_in(self):
        close_check_in(self.cup)
        model = self.model
        model.seated = set(model.checked_in)
        model.fill(checked=True)
        model.phase = "in_progress"

    @invariant()
    def agrees_with_the_model(self):
        rows = Registration.objects.filter(tournament=self.cup)
        index = {pk: n for n, pk in enumerate(self.members)}
        seated = {
            index[m]
            for m in rows.filter(status__in=("registered", "checked_in")).values_list(
                "member_id", flat=True
            )
        }
        assert seated == self.model.seated
        checked = {
            index[m] for m in rows.filter(status="checked_in").values_list("member_id", flat=True)
        }
        assert checked == self.model.checked_in
        line = [
            index[m]
            for m in rows.filter(status="waitlisted")
            .order_by("waitlist_position")
            .values_list("member_id", flat=True)
        ]
        assert line == self.model.waitlist
        assert {n: self.balance_of(n) for n in range(MEMBERS)} == self.model.balance

    @invariant()
    def passes_every_check(self):
        settle()
        report = run_checks(CHECKS)
        assert report.ok, [(r.name, r.sample) for r in report.checks if r.status != "ok"]


def test_a_tournament_behaves_like_its_model(db):
    TournamentMachine.members = [MemberFactory().pk for _ in range(MEMBERS)]
    run_state_machine_as_test(
        TournamentMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )

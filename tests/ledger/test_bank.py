"""The bank test: many processes hammer the ledger at once, one dies mid-transaction, and
the books still close.

16 forked workers (each with its own PostgreSQL connection) run 500 operations each over
50 members: awards, spends, transfers, reversals, holds, captures, releases and the
expiry sweep. Every operation is a pure function of (seed, worker, index), so any process
can recompute any other's: 20% of operations replay an earlier idempotency key (this
worker's or another's) with the same arguments, 1% replay a key known to be committed
with a changed amount and must get `IdempotencyConflict`. One worker is SIGKILLed while
its transaction holds wallet locks. Afterwards the invariants are checked with SQL.

The plan is in `bank_plan.py`, the workers in `bank_workers.py`, the checks in
`bank_checks.py`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from accounts.models import Member
from ledger.actions import award, expire_holds, hold
from ledger.actions import transfer as move
from ledger.models import Hold, Transfer
from tests.factories import MemberFactory
from tests.ledger.bank_checks import (
    assert_books_close,
    assert_each_key_holds_its_original_request,
    assert_reports_agree,
    assert_transfers_balanced,
    assert_wallets_match_postings,
    rows,
    run_integrity_checks,
    scalar,
)
from tests.ledger.bank_plan import DOOMED, KILL_AT, KILLED_KEY, MEMBERS, OPS, WORKERS
from tests.ledger.bank_workers import read_reports, run_bank

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_sixteen_workers_and_a_kill_leave_the_books_closed(tmp_path):
    members = [MemberFactory().pk for _ in range(MEMBERS)]
    started = time.monotonic()
    procs = run_bank(members, str(tmp_path))
    elapsed = time.monotonic() - started

    assert procs[DOOMED].exitcode == -signal.SIGKILL
    assert [p.exitcode for n, p in enumerate(procs) if n != DOOMED] == [0] * (WORKERS - 1)
    records = read_reports(str(tmp_path))
    by_worker = defaultdict(int)
    for record in records:
        by_worker[record["worker"]] += 1
    assert by_worker[DOOMED] == KILL_AT
    assert all(by_worker[w] == OPS for w in range(WORKERS) if w != DOOMED), dict(by_worker)

    assert not Transfer.objects.filter(idempotency_key=KILLED_KEY).exists()
    assert Member.objects.count() == MEMBERS
    assert_reports_agree(records)
    assert_books_close()
    assert_wallets_match_postings()
    assert_transfers_balanced()
    assert_each_key_holds_its_original_request(members)
    run_integrity_checks()
    outcomes = defaultdict(int)
    for record in records:
        outcomes[f"{record.get('kind')}:{record['outcome']}"] += 1
    print(f"bank: {len(records)} operations in {elapsed:.1f}s: {dict(sorted(outcomes.items()))}")


def test_expiring_holds_do_not_deadlock_with_a_transaction_locking_in_id_order():
    """The ledger locks wallets in id order. Here a caller's transaction has taken the
    lower wallet (an award) and goes on to move value to the higher one, while the expiry
    sweep releases a hold on the higher wallet and then one on the lower wallet. If the
    sweep keeps the first wallet locked while it waits for the second, the two wait on each
    other and PostgreSQL aborts one of them."""
    low, high = MemberFactory(), MemberFactory()
    wallets = dict(
        rows(
            "SELECT member_id, id FROM ledger_account WHERE member_id IN (%s, %s)",
            [low.pk, high.pk],
        )
    )
    assert wallets[low.pk] < wallets[high.pk]
    now = timezone.now()
    for member, hours in ((high, 1), (low, 2)):  # the higher wallet's hold expires first
        hold(
            member,
            10,
            sink="shop",
            reason="expires",
            idempotency_key=f"deadlock:{member.pk}",
            expires_at=now + timedelta(hours=hours),
        )
    low_locked, sweep_waits = threading.Event(), threading.Event()
    errors: dict[str, BaseException] = {}

    def caller():
        try:
            with transaction.atomic():
                award(low, 1, reason="first", idempotency_key="deadlock:award")
                low_locked.set()
                sweep_waits.wait(timeout=10)
                move(low, high, 5, reason="then", idempotency_key="deadlock:move")
        except BaseException as error:
            errors["caller"] = error
        finally:
            connections.close_all()

    def sweep():
        try:
            low_locked.wait(timeout=10)
            assert expire_holds(now=now + timedelta(hours=3)) == 2
        except BaseException as error:
            errors["sweep"] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=caller), threading.Thread(target=sweep)]
    for thread in threads:
        thread.start()
    assert low_locked.wait(timeout=10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not sweep_waits.is_set():
        waiting = scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        if waiting:
            sweep_waits.set()
        time.sleep(0.01)
    sweep_waits.set()  # a sweep that never waits cannot deadlock either
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(Hold.objects.values_list("status", flat=True)) == ["expired", "expired"]
    assert Transfer.objects.filter(idempotency_key="deadlock:move").exists()

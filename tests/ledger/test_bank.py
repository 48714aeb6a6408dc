"""The bank test: many processes hammer the ledger at once, one dies mid-transaction, and
the books still close.

16 forked workers (each with its own PostgreSQL connection) run 500 operations each over
50 members: awards, spends, transfers, reversals, holds, captures, releases and the
expiry sweep. Every operation is a pure function of (seed, worker, index), so any process
can recompute any other's: 20% of operations replay an earlier idempotency key (this
worker's or another's) with the same arguments, 1% replay a key known to be committed
with a changed amount and must get `IdempotencyConflict`. One worker is SIGKILLed while
its transaction holds wallet locks. Afterwards the invariants are checked with SQL.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import random
import signal
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts.models import Member
from config.db import Ref
from ledger.actions import award, award_many, capture, expire_holds, hold, release, reverse, spend
from ledger.actions import transfer as move
from ledger.exceptions import (
    AlreadyReversed,
    HoldExpired,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientFunds,
)
from ledger.models import Hold, Transfer
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEED = 20_240_611
WORKERS = 16
OPS = 500
MEMBERS = 50
HOT = 5  # a third of the picks go to these members, so wallets are contended
SINKS = ("shop", "reading")
REPLAY_SHARE = 0.20
CHANGED_SHARE = 0.01
DOOMED = 5  # the worker SIGKILLed ...
KILL_AT = 200  # ... when it reaches this operation, inside an open transaction
KILLED_KEY = f"bank:{DOOMED}:killed"
FRESH_WEIGHTS = {
    "award": 18,
    "spend": 16,
    "transfer": 26,
    "reverse": 10,
    "hold": 14,
    "capture": 8,
    "release": 6,
    "expire": 0.5,  # rare, so some captures find their short hold pending but expired
}
AMOUNTED = ("award", "spend", "transfer", "hold")
# Refusals the ledger may answer with under this load; anything else fails the test.
REFUSALS = (InsufficientFunds, AlreadyReversed, HoldExpired, HoldNotPending)


@dataclass(frozen=True)
class Op:
    kind: str
    key: str | None = None  # the idempotency key it writes under (award ... hold)
    member: int = 0  # index into the member list
    other: int = 0  # a transfer's recipient
    amount: int = 0
    sink: str = ""
    target: str = ""  # reverse: the transferred key; capture/release: the hold's key
    short: bool = False  # a hold that expires 50 ms after it is placed


def key_of(worker: int, index: int) -> str:
    return f"bank:{worker}:{index}"


def _rng(worker: int, index: int, salt: int = 0) -> random.Random:
    return random.Random(((SEED * 64 + worker) * 4096 + index) * 4 + salt)


def _member(rng: random.Random) -> int:
    return rng.randrange(HOT) if rng.random() < 1 / 3 else rng.randrange(MEMBERS)


def _own(worker: int, index: int) -> Op | None:
    """The fresh operation at (worker, index) without its target, or None if that slot is
    a replay. Every draw is made whatever the kind, so the stream never depends on it."""
    rng = _rng(worker, index)
    if rng.random() < REPLAY_SHARE + CHANGED_SHARE:
        return None
    kind = rng.choices(list(FRESH_WEIGHTS), weights=list(FRESH_WEIGHTS.values()))[0]
    member = _member(rng)
    other = (member + rng.randrange(1, MEMBERS)) % MEMBERS  # never the member
    amount = rng.randint(1, 60 if kind in ("award", "hold") else 80)
    sink = rng.choice(SINKS)
    short = kind == "hold" and rng.random() < 0.15
    if kind in ("capture", "release", "expire"):
        return Op(kind)  # they write under no key of their own
    if kind == "reverse":
        return Op(kind, key_of(worker, index))
    if kind == "award":
        return Op(kind, key_of(worker, index), member, amount=amount)
    if kind == "transfer":
        return Op(kind, key_of(worker, index), member, other, amount)
    return Op(kind, key_of(worker, index), member, amount=amount, sink=sink, short=short)


def _earlier(rng: random.Random, worker: int, index: int, accept) -> Op | None:
    """A fresh op at an earlier index, of this worker or another, that `accept`s."""
    for _ in range(40 if index else 0):
        other = worker if rng.random() < 0.5 else rng.randrange(WORKERS)
        op = _own(other, rng.randrange(index))
        if op is not None and accept(op):
            return op
    return None


def base_op(worker: int, index: int) -> Op | None:
    """The fresh operation at (worker, index), its target resolved (None: no fresh op
    there). A reverse, capture or release finding no earlier op to aim at does nothing."""
    op = _own(worker, index)
    if op is None or op.kind not in ("reverse", "capture", "release"):
        return op
    rng = _rng(worker, index, salt=1)
    if op.kind == "reverse":
        aim = _earlier(rng, worker, index, lambda o: o.kind in ("award", "spend", "transfer"))
    else:
        aim = _earlier(rng, worker, index, lambda o: o.kind == "hold")
    return replace(op, target=aim.key if aim else "")


def planned(worker: int, index: int) -> tuple[str, Op | None, random.Random]:
    """What the worker does at `index`: ("fresh", op), ("replay", the earlier op to re-issue
    as it was) or ("changed", None: the target is picked at run time among committed keys)."""
    rng = _rng(worker, index, salt=2)
    roll = _rng(worker, index).random()  # the roll `_own` makes
    if roll < CHANGED_SHARE:
        return "changed", None, rng
    if roll < CHANGED_SHARE + REPLAY_SHARE:
        # Short holds are not replayable: their expiry is relative to when they were placed.
        original = _earlier(rng, worker, index, lambda o: o.key is not None and not o.short)
        if original is not None:
            original = base_op(*map(int, original.key.split(":")[1:]))
        return "replay", original, rng  # None: nothing earlier to replay (first slots)
    return "fresh", base_op(worker, index), rng


# --- the worker -----------------------------------------------------------------------


def execute(op: Op, members: list[int], long_expiry) -> dict:
    """Run `op`; the answer as a JSON-able dict. Refusals are answers; anything else raises."""
    who = Ref(members[op.member])
    if op.kind == "award":
        done = award(who, op.amount, reason="bank award", idempotency_key=op.key)
    elif op.kind == "spend":
        done = spend(who, op.amount, sink=op.sink, reason="bank spend", idempotency_key=op.key)
    elif op.kind == "transfer":
        done = move(
            who, Ref(members[op.other]), op.amount, reason="bank gift", idempotency_key=op.key
        )
    elif op.kind in ("reverse", "capture", "release") and not op.target:
        return {"outcome": "no_target"}
    elif op.kind == "reverse":
        original = Transfer.objects.filter(idempotency_key=op.target).first()
        if original is None:
            return {"outcome": "no_original"}
        done = reverse(original, reason="bank undo", idempotency_key=op.key)
    elif op.kind == "hold":
        expires = timezone.now() + timedelta(milliseconds=50) if op.short else long_expiry
        placed = hold(
            who,
            op.amount,
            sink=op.sink,
            reason="bank hold",
            idempotency_key=op.key,
            expires_at=expires,
        )
        return {"outcome": "ok", "id": placed.pk}
    elif op.kind in ("capture", "release"):
        placed = Hold.objects.filter(idempotency_key=op.target).first()
        if placed is None:
            return {"outcome": "no_hold"}
        if op.kind == "release":
            return {"outcome": "ok", "id": placed.pk, "status": release(placed).status}
        done = capture(placed)
    elif op.kind == "expire":
        return {"outcome": "ok", "expired": expire_holds()}
    else:  # pragma: no cover
        raise AssertionError(op)
    return {"outcome": "ok", "id": done.pk, "replayed": getattr(done, "replayed", None)}


def _changed_target(rng: random.Random, flags) -> Op | None:
    """A committed key (award, spend, transfer or long hold) of any worker."""
    committed = [n for n, flag in enumerate(flags) if flag]
    if not committed:
        return None
    worker, index = divmod(rng.choice(committed), OPS)
    return base_op(worker, index)


def run_one(worker: int, index: int, members, flags, long_expiry) -> dict:
    mode, op, rng = planned(worker, index)
    record = {"worker": worker, "index": index, "mode": mode}
    if mode == "changed":
        original = _changed_target(rng, flags)
        if original is None:
            record["outcome"] = "nothing_committed_yet"
            return record
        op = replace(original, amount=original.amount + rng.randint(1, 5))
    elif op is None:
        record["outcome"] = "nothing_to_replay"
        return record
    record.update(kind=op.kind, key=op.key, target=op.target)
    try:
        record.update(execute(op, members, long_expiry))
    except IdempotencyConflict as conflict:
        record.update(outcome="IdempotencyConflict", fields=conflict.fields)
    except REFUSALS as refusal:
        record["outcome"] = type(refusal).__name__
    except Exception:
        record.update(outcome="error", traceback=traceback.format_exc())
    if (
        mode != "changed"
        and record["outcome"] == "ok"
        and op.kind in AMOUNTED
        and not op.short
        and op.key.startswith("bank:")
    ):
        # Published for other workers' changed replays: committed, so must conflict.
        owner, at = map(int, op.key.split(":")[1:])
        flags[owner * OPS + at] = 1
    return record


def _die_in_transaction(members, in_transaction) -> None:
    """Write a transfer, keep its transaction open (holding two wallets' locks) and wait
    for the SIGKILL."""
    with transaction.atomic():
        award_many(
            [(Ref(members[0]), 7), (Ref(members[1]), 11)],
            reason="never committed",
            idempotency_key=KILLED_KEY,
        )
        in_transaction.value = 1
        time.sleep(120)
    raise AssertionError("the doomed worker outlived its SIGKILL")


def _worker_main(worker, members, flags, in_transaction, barrier, results_dir, long_expiry):
    fd = os.open(
        os.path.join(results_dir, f"{worker}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND
    )

    def report(record: dict) -> None:
        os.write(fd, (json.dumps(record) + "\n").encode())  # one write: a kill never tears it

    try:
        settings.DEBUG = False  # a worker is a production process: no query log
        barrier.wait()
        for index in range(OPS):
            if worker == DOOMED and index == KILL_AT:
                _die_in_transaction(members, in_transaction)
            report(run_one(worker, index, members, flags, long_expiry))
    except BaseException:
        report({"worker": worker, "outcome": "crashed", "traceback": traceback.format_exc()})
    finally:
        connections.close_all()
        os.close(fd)


def run_bank(members: list[int], results_dir: str) -> list[multiprocessing.Process]:
    ctx = multiprocessing.get_context("fork")
    connections.close_all()  # children must open their own connections, not share ours
    flags = ctx.RawArray("b", WORKERS * OPS)
    in_transaction = ctx.RawValue("b", 0)
    barrier = ctx.Barrier(WORKERS)
    long_expiry = timezone.now() + timedelta(hours=1)
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(w, members, flags, in_transaction, barrier, results_dir, long_expiry),
        )
        for w in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    try:
        deadline = time.monotonic() + 90
        while not in_transaction.value:
            assert procs[DOOMED].is_alive(), "the doomed worker ended before its kill"
            assert time.monotonic() < deadline, "the doomed worker never reached its kill"
            time.sleep(0.005)
        os.kill(procs[DOOMED].pid, signal.SIGKILL)
        for proc in procs:
            proc.join(timeout=120)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
    return procs


def read_reports(results_dir: str) -> list[dict]:
    records = []
    for worker in range(WORKERS):
        path = os.path.join(results_dir, f"{worker}.jsonl")
        if not os.path.exists(path):
            continue
        with open(path) as handle:
            records += [json.loads(line) for line in handle if line.endswith("\n")]
    return records


# --- the checks -----------------------------------------------------------------------


def rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def scalar(sql: str, params=None):
    return rows(sql, params)[0][0]


def assert_books_close() -> None:
    systems = {name for (name,) in rows("SELECT name FROM ledger_account WHERE member_id IS NULL")}
    assert systems <= {"issuance", *(f"sink:{s}" for s in SINKS)}, systems
    issued = -scalar(
        "SELECT COALESCE(SUM(p.amount), 0) FROM ledger_posting p"
        " JOIN ledger_account a ON a.id = p.account_id"
        " WHERE a.member_id IS NULL AND a.name = 'issuance'"
    )
    sunk = scalar(
        "SELECT COALESCE(SUM(p.amount), 0) FROM ledger_posting p"
        " JOIN ledger_account a ON a.id = p.account_id"
        " WHERE a.member_id IS NULL AND a.name LIKE 'sink:%'"
    )
    wallets = scalar(
        "SELECT COALESCE(SUM(balance), 0) FROM ledger_account WHERE member_id IS NOT NULL"
    )
    assert issued - sunk == wallets, (issued, sunk, wallets)
    assert issued > 0
    assert sunk > 0


def assert_wallets_match_postings() -> None:
    wallets = rows(
        """
        SELECT a.id, a.balance, a.held, a.version,
               COALESCE(SUM(p.amount), 0), COUNT(p.id),
               COALESCE(MIN(p.version), 0), COALESCE(MAX(p.version), 0),
               COUNT(DISTINCT p.version),
               COALESCE((SELECT SUM(h.amount) FROM ledger_hold h
                          WHERE h.account_id = a.id AND h.status = 'pending'), 0)
          FROM ledger_account a LEFT JOIN ledger_posting p ON p.account_id = a.id
         WHERE a.member_id IS NOT NULL
         GROUP BY a.id ORDER BY a.id
        """
    )
    assert len(wallets) >= MEMBERS
    for wid, balance, held, version, total, count, low, high, distinct, pending in wallets:
        assert balance >= 0, f"wallet {wid} is negative: {balance}"
        assert 0 <= held <= balance, f"wallet {wid}: held {held} of balance {balance}"
        assert balance == total, f"wallet {wid}: cached {balance}, postings sum to {total}"
        assert held == pending, f"wallet {wid}: held {held}, pending holds {pending}"
        assert version == count, f"wallet {wid}: version {version}, {count} postings"
        if count:
            assert (low, high, distinct) == (1, count, count), f"wallet {wid}: versions gap"
    broken_chains = rows(
        """
        SELECT account_id, version FROM (
            SELECT p.account_id, p.version, p.balance_after,
                   SUM(p.amount) OVER (PARTITION BY p.account_id ORDER BY p.version) AS running
              FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id
             WHERE a.member_id IS NOT NULL) chain
         WHERE balance_after IS DISTINCT FROM running
        """
    )
    assert broken_chains == []


def assert_transfers_balanced() -> None:
    unbalanced = rows(
        "SELECT transfer_id, SUM(amount) FROM ledger_posting GROUP BY transfer_id"
        " HAVING SUM(amount) <> 0"
    )
    assert unbalanced == []
    empty = rows(
        "SELECT t.id FROM ledger_transfer t"
        " WHERE NOT EXISTS (SELECT 1 FROM ledger_posting p WHERE p.transfer_id = t.id)"
    )
    assert empty == []
    assert (
        rows(
            "SELECT idempotency_key FROM ledger_transfer GROUP BY idempotency_key"
            " HAVING COUNT(*) > 1"
        )
        == []
    )
    # Each transfer committed its event with it, and nothing else did.
    missing_events = rows(
        "SELECT t.id FROM ledger_transfer t WHERE (SELECT COUNT(*) FROM events_event e"
        " WHERE e.kind = 'ledger.transfer_posted' AND e.subject = 'transfer:' || t.id) <> 1"
    )
    assert missing_events == []
    assert scalar(
        "SELECT COUNT(*) FROM events_event WHERE kind = 'ledger.transfer_posted'"
    ) == scalar("SELECT COUNT(*) FROM ledger_transfer")


def effects() -> dict[str, tuple[int, str, int | None, dict, dict]]:
    """Each transfer's (id, kind, reverses_id, member totals, system totals), by key."""
    found: dict[str, tuple] = {}
    for tid, key, kind, reverses_id, member_id, name, amount in rows(
        "SELECT t.id, t.idempotency_key, t.kind, t.reverses_id, a.member_id, a.name, p.amount"
        " FROM ledger_transfer t JOIN ledger_posting p ON p.transfer_id = t.id"
        " JOIN ledger_account a ON a.id = p.account_id ORDER BY p.id"
    ):
        _, _, _, members, systems = found.setdefault(key, (tid, kind, reverses_id, {}, {}))
        if member_id is None:
            systems[name] = systems.get(name, 0) + amount
        else:
            members[member_id] = members.get(member_id, 0) + amount
    return found


def assert_each_key_holds_its_original_request(members: list[int]) -> None:
    """Whoever wrote a key first (original or replay) wrote exactly what the key's
    operation asks; a changed replay never wrote anything."""
    transfers = effects()
    assert KILLED_KEY not in transfers, "the killed transaction's transfer was committed"
    bank = [key for key in transfers if key.startswith("bank:")]
    assert len(bank) > 1000, len(bank)
    for key in bank:
        _, kind, reverses_id, by_member, by_system = transfers[key]
        op = base_op(*map(int, key.split(":")[1:]))
        assert op is not None, key
        if op.kind == "award":
            expected = ("award", {members[op.member]: op.amount}, {"issuance": -op.amount})
        elif op.kind == "spend":
            expected = ("spend", {members[op.member]: -op.amount}, {f"sink:{op.sink}": op.amount})
        elif op.kind == "transfer":
            expected = (
                "transfer",
                {members[op.member]: -op.amount, members[op.other]: op.amount},
                {},
            )
        else:
            assert op.kind == "reverse", (key, op)
            original_id, _, _, original_members, original_systems = transfers[op.target]
            assert reverses_id == original_id, key
            expected = (
                "reversal",
                {m: -a for m, a in original_members.items()},
                {s: -a for s, a in original_systems.items()},
            )
        assert (kind, by_member, by_system) == expected, key
    for key, member_id, amount, sink in Hold.objects.filter(
        idempotency_key__startswith="bank:"
    ).values_list("idempotency_key", "account__member_id", "amount", "sink"):
        op = base_op(*map(int, key.split(":")[1:]))
        assert op is not None, key
        assert (op.kind, member_id, amount, sink) == (
            "hold",
            members[op.member],
            op.amount,
            f"sink:{op.sink}",
        ), key
    captured = rows(
        "SELECT h.id FROM ledger_hold h WHERE h.status = 'captured' AND NOT EXISTS ("
        " SELECT 1 FROM ledger_posting p WHERE p.transfer_id = h.transfer_id"
        " AND p.account_id = h.account_id AND p.amount = -h.amount)"
    )
    assert captured == []


def assert_reports_agree(records: list[dict]) -> None:
    crashed = [r for r in records if r["outcome"] in ("error", "crashed")]
    assert not crashed, crashed[0]["traceback"]
    changed = [r for r in records if r["mode"] == "changed" and "key" in r]
    assert len(changed) >= 20, len(changed)  # ~1% of 8000, less the earliest slots
    for record in changed:
        assert record["outcome"] == "IdempotencyConflict", record
        assert "amount" in record["fields"], record
    conflicts = [r for r in records if r["outcome"] == "IdempotencyConflict"]
    assert len(conflicts) == len(changed), [r for r in conflicts if r["mode"] != "changed"][:3]
    replays = [r for r in records if r["mode"] == "replay"]
    assert len(replays) >= 0.15 * len(records)

    transfer_ids = dict(rows("SELECT idempotency_key, id FROM ledger_transfer"))
    hold_ids = dict(Hold.objects.values_list("idempotency_key", "id"))
    writers: dict[str, int] = defaultdict(int)
    for record in records:
        if record["outcome"] != "ok" or not record.get("key"):
            continue
        key = record["key"]
        if record["kind"] == "hold":
            assert hold_ids.get(key) == record["id"], record
        else:
            assert transfer_ids.get(key) == record["id"], record
            writers[key] += not record["replayed"]
    assert max(writers.values()) == 1, "a key was written twice"
    captures: dict[str, set[int]] = defaultdict(set)
    for record in records:
        if record.get("kind") == "capture" and record["outcome"] == "ok":
            captures[record["target"]].add(record["id"])
    assert all(len(ids) == 1 for ids in captures.values()), "a hold captured twice"


def run_integrity_checks() -> None:
    if importlib.util.find_spec("ledger.integrity") is None:
        return
    from integrity.registry import all_checks
    from integrity.runner import run_checks

    names = [c.name for c in all_checks() if c.name.startswith("ledger.")]
    assert names, "ledger.integrity registered no checks"
    report = run_checks(names)
    assert report.ok, [r for r in report.checks if r.status != "ok"]


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

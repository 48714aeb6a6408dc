"""The bank test's workers: forked processes that each run their planned operations and
report every outcome in one write, one of them SIGKILLed while its transaction holds
wallet locks."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
import traceback
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

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
from tests.ledger.bank_plan import DOOMED, KILL_AT, KILLED_KEY, OPS, WORKERS, Op, base_op, planned

AMOUNTED = ("award", "spend", "transfer", "hold")

# Refusals the ledger may answer with under this load; anything else fails the test.
REFUSALS = (InsufficientFunds, AlreadyReversed, HoldExpired, HoldNotPending)


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

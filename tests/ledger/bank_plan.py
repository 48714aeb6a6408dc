"""The bank test's plan: every operation a pure function of (seed, worker, index), so any
process can recompute any other's: fresh operations, and replays of earlier keys."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

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

"""The root of every app's refusals.

Each app's base error (`AccountsError`, `LedgerError`, ...) derives from `Refusal`, so a
refusal is counted in one place, here, by app and class (`concord_domain_refusals`,
ops.metrics), and no call site records anything.

It is counted when it is made: Python has no hook on `raise`, and Concord makes a refusal
only to raise it (the helpers that name the rule a member fails, `narrative.actions.rules`
`unmet_rule` and `refusal`, are called only by the actions that then raise what they
return; tests/ops/test_metrics.py holds that every refused action counts once). What is
counted includes a refusal Concord catches itself (a waitlist promotion the player cannot
pay counts an `InsufficientFunds` and skips them). Reading bytecode to tell "built to be
raised" from "built" was tried and dropped: it depends on CPython's instruction layout."""

from __future__ import annotations

from ops.metrics import REFUSALS


class Refusal(Exception):
    def __init__(self, *args, **kwargs) -> None:
        cls = type(self)
        REFUSALS.labels(cls.__module__.split(".", 1)[0], cls.__name__).inc()
        super().__init__(*args, **kwargs)

"""The root of every app's refusals.

Each app's base error (`AccountsError`, `LedgerError`, ...) derives from `Refusal`, so a
refusal is counted in one place, here, when it is raised, by app and class
(`concord_domain_refusals`, ops.metrics), and no call site records anything.

What is counted is every refusal made, including one Concord catches itself (a waitlist
promotion the player cannot pay counts an `InsufficientFunds` and skips them)."""

from __future__ import annotations

from ops.metrics import REFUSALS


class Refusal(Exception):
    def __init__(self, *args, **kwargs) -> None:
        cls = type(self)
        REFUSALS.labels(cls.__module__.split(".", 1)[0], cls.__name__).inc()
        super().__init__(*args, **kwargs)

"""The root of every app's refusals.

Each app's base error (`AccountsError`, `LedgerError`, ...) derives from `Refusal`, so a
refusal is counted in one place, here, by app and class (`concord_domain_refusals`,
ops.metrics), and no call site records anything.

What is counted is every refusal raised, including one Concord catches itself (a waitlist
promotion the player cannot pay counts an `InsufficientFunds` and skips them), and not
one only built (a locked chapter the dashboard describes, an outcome kept in a report).
Python 3.11 has no hook on `raise`, so the constructor looks at where it was called: a
refusal built in a `raise` statement (`raise X(...)`, `raise X(...) from e`, also through
functions that `return X(...)` into one) counts at once; one built and kept counts only
when its raiser says so: `raise locked.refuse()` (idempotent: a refusal counts once)."""

from __future__ import annotations

import opcode
import sys
from typing import Self

from ops.metrics import REFUSALS

_RAISE = opcode.opmap["RAISE_VARARGS"]
_RETURN = opcode.opmap["RETURN_VALUE"]
_CACHE = opcode.opmap["CACHE"]
# `raise X(...) from <name or constant>`: one load between the call and RAISE_VARARGS 2.
_LOADS = frozenset(
    opcode.opmap[name]
    for name in ("LOAD_CONST", "LOAD_FAST", "LOAD_GLOBAL", "LOAD_DEREF", "LOAD_NAME")
)


class Refusal(Exception):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if _built_to_raise(self, sys._getframe(1)):
            self.refuse()

    def refuse(self) -> Self:
        """Count this refusal (once); returns it, for `raise error.refuse()`."""
        if not self.__dict__.get("_refusal_counted"):
            self._refusal_counted = True
            cls = type(self)
            REFUSALS.labels(cls.__module__.split(".", 1)[0], cls.__name__).inc()
        return self


def _built_to_raise(error: Refusal, frame) -> bool:
    """Whether the call that built `error` is the operand of a `raise` (following the
    subclasses' own __init__ and functions returning it straight to their caller)."""
    while frame is not None and frame.f_code.co_name == "__init__":
        if frame.f_locals.get("self") is not error:
            break
        frame = frame.f_back
    while frame is not None:
        code = frame.f_code.co_code
        at = frame.f_lasti + 2  # the instruction after the call (3.11: 2-byte units)
        while at < len(code) and code[at] == _CACHE:
            at += 2
        if at >= len(code):
            return False
        op = code[at]
        if op == _RAISE:
            return True
        if op in _LOADS:
            return at + 3 < len(code) and code[at + 2] == _RAISE and code[at + 3] == 2
        if op != _RETURN:
            return False
        frame = frame.f_back
    return False

from __future__ import annotations

from config.errors import Refusal


class LedgerError(Refusal):
    """Base error of the ledger; every refusal of a ledger action is one."""


class InvalidAmount(LedgerError, ValueError):
    """Amounts are positive integers (no bools, floats, decimals or strings)."""


class InvalidRequest(LedgerError, ValueError):
    """A malformed argument: blank idempotency key or reason, unknown kind, ..."""


class UnknownMember(InvalidRequest, LookupError):
    """A transfer names a member that does not exist (nothing was written)."""


class UnknownCurrency(LedgerError, LookupError):
    """No currency has this code."""


class InsufficientFunds(LedgerError):
    """A wallet's available balance (balance minus open holds) cannot cover it."""


class IdempotencyConflict(LedgerError):
    """An idempotency key was used before for a different request.

    `fields` names what differs, `original` is what the key was first used for."""

    def __init__(self, key: str, fields: list[str], original=None):
        self.key = key
        self.fields = fields
        self.original = original
        super().__init__(
            f"idempotency key {key!r} was used for a different request"
            f" ({', '.join(fields)} differ{'s' if len(fields) == 1 else ''})"
        )


class AlreadyReversed(LedgerError):
    """The transfer has been reversed already (a transfer is reversed at most once)."""


class InvalidReversal(LedgerError):
    """A reversal cannot itself be reversed."""


class HoldNotPending(LedgerError):
    """The hold was captured, released or expired already."""


class HoldExpired(HoldNotPending):
    """The hold's time ran out before it was captured."""


class AchievementError(LedgerError):
    """An achievement that cannot be granted (inactive, or misconfigured)."""


class ArchiveRaced(LedgerError):
    """Activity days changed between writing their archive file and deleting them (a
    late day joined them to a current run); nothing was archived: run again."""

"""Ledger's part of other apps' actions (connected in LedgerConfig.ready)."""

from __future__ import annotations

from ledger.actions import signup


def open_wallets_on_registration(sender, *, member, referrer=None, actor=None, **kwargs) -> None:
    """Registration opens the member's wallets and pays the bonuses, in its transaction."""
    signup(member.pk, referrer=referrer, actor=actor)

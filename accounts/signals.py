"""Signals for the apps above accounts (ledger opens wallets through `member_registered`)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the registration's transaction, after member, identity and profile are
# written and `member.registered` is published, with `member`, `referrer` (a
# Member or None) and `actor`. A receiver's exception rolls the registration back.
member_registered = Signal()

# Sent inside `erase_member`'s transaction, after the member's rows and events are
# scrubbed, with `member`, `scrub` (an `accounts.erasure.Scrub`: `apply(data)` replaces the
# personal values), `seqs` (the events rewritten) and `actor`. Apps above accounts scrub
# their copies of the member's data (api: webhook bodies); an exception rolls it back.
member_erased = Signal()

"""Every write to tournaments, registrations and matches goes through here.

Each action validates its arguments before touching a row, takes the tournament's row lock
(`FOR NO KEY UPDATE`; check-in takes `FOR SHARE`) before reading or writing its
registrations, writes in one transaction, publishes its events in it (`tournament.*`, each
with `tournament_id` in its data, subject `tournament:<id>`), and on any refusal leaves the
database as it was. Locks are taken tournament first, then registrations, then wallets
(inside the ledger's actions); the one exception is `register`'s early fee charge, see
there.

Money moves through `ledger.actions` with keys Concord derives (reserved prefix
`tournament:`): the entry fee `tournament:<t>:fee:<registration>` (a purchase into the
system account `sink:tournament-<t>`), its refund `tournament:<t>:refund:<registration>`
(the reversal of the fee) and the prizes `tournament:<t>:prizes` (one `award_many`).

One module per subject, every action importable from here:

- `terms`: validating a tournament's settings, `create_tournament`, `update_tournament`
- `lifecycle`: `open_registration`, `open_check_in`, `cancel` (status changes)
- `registration`: `register`, the hot path (its SQL in `tournaments/sql/`)
- `batch`: `register_many` (imports)
- `leaving`: `withdraw`, `disqualify`
- `waitlist`: filling free slots from the waitlist, closing its gaps
- `checkin`: `check_in`, `close_check_in`
- `bracket`: `generate_bracket`, `record_result`, seeding and placements
- `prizes`: `finalize`
- `common`: keys, publishing, the row lock, counters, the fee charge
"""

from __future__ import annotations

from tournaments.actions.batch import BatchOutcome, register_many
from tournaments.actions.bracket import (
    SCORE_MAX,
    generate_bracket,
    placements,
    record_result,
    seeding,
)
from tournaments.actions.checkin import CheckInClosed, check_in, close_check_in
from tournaments.actions.common import fee_key, fee_sink, prizes_key, refund_key
from tournaments.actions.leaving import disqualify, withdraw
from tournaments.actions.lifecycle import cancel, open_check_in, open_registration
from tournaments.actions.prizes import finalize
from tournaments.actions.registration import closed_because, register
from tournaments.actions.terms import (
    GAME_MAX,
    MAX_CAPACITY,
    NAME_MAX,
    TERMS,
    Terms,
    create_tournament,
    prize_table_of,
    update_tournament,
    validate_terms,
)

__all__ = [
    "GAME_MAX",
    "MAX_CAPACITY",
    "NAME_MAX",
    "SCORE_MAX",
    "TERMS",
    "BatchOutcome",
    "CheckInClosed",
    "Terms",
    "cancel",
    "check_in",
    "close_check_in",
    "closed_because",
    "create_tournament",
    "disqualify",
    "fee_key",
    "fee_sink",
    "finalize",
    "generate_bracket",
    "open_check_in",
    "open_registration",
    "placements",
    "prize_table_of",
    "prizes_key",
    "record_result",
    "refund_key",
    "register",
    "register_many",
    "seeding",
    "update_tournament",
    "validate_terms",
    "withdraw",
]

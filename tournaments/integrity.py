"""Tournament integrity checks: each a set-based query returning the ids breaking one rule.

The SQL runs unchanged on PostgreSQL and SQLite. The prize check compares each completed
tournament's prize transfer with its table in Python (there are few tournaments)."""

from __future__ import annotations

from django.db import connection

from config.history import rows_unlike_their_history
from integrity.registry import Violations, check
from ledger.integrity import history_violations
from ledger.models import Posting, Transfer, TransferKind
from tournaments.actions import prizes_key
from tournaments.models import Format, Registration, Status, Tournament


def _ids(sql: str, params=()) -> Violations:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return Violations.from_ids(row[0] for row in cursor.fetchall())


@check(
    "tournaments.seats_within_capacity",
    "Registered + checked-in players never exceed a tournament's capacity, and its"
    " active_count counts them.",
)
def seats_within_capacity() -> Violations:
    return _ids(
        """
        SELECT t.id FROM tournaments_tournament t
          LEFT JOIN (SELECT tournament_id, COUNT(*) AS n FROM tournaments_registration
                      WHERE status IN ('registered', 'checked_in')
                      GROUP BY tournament_id) s ON s.tournament_id = t.id
         WHERE COALESCE(s.n, 0) > t.capacity OR COALESCE(s.n, 0) <> t.active_count
         ORDER BY t.id
        """
    )


@check(
    "tournaments.waitlist_gap_free",
    "Each waitlist is numbered 1..n without gaps or repeats, only waitlisted players have a"
    " position, and waitlist_count is n.",
)
def waitlist_gap_free() -> Violations:
    return _ids(
        """
        SELECT t.id FROM tournaments_tournament t
          LEFT JOIN (SELECT tournament_id, COUNT(*) AS n,
                            COUNT(DISTINCT waitlist_position) AS distinct_positions,
                            MIN(waitlist_position) AS lowest, MAX(waitlist_position) AS highest
                       FROM tournaments_registration WHERE status = 'waitlisted'
                      GROUP BY tournament_id) w ON w.tournament_id = t.id
         WHERE COALESCE(w.n, 0) <> t.waitlist_count
            OR (w.n IS NOT NULL AND (w.distinct_positions <> w.n OR w.lowest <> 1
                                     OR w.highest <> w.n))
        UNION
        SELECT tournament_id FROM tournaments_registration
         WHERE status <> 'waitlisted' AND waitlist_position IS NOT NULL
        ORDER BY 1
        """
    )


@check(
    "tournaments.one_active_registration",
    "No member has more than one current (registered, checked-in or waitlisted)"
    " registration in a tournament.",
)
def one_active_registration() -> Violations:
    return _ids(
        """
        SELECT MIN(id) FROM tournaments_registration
         WHERE status IN ('registered', 'checked_in', 'waitlisted')
         GROUP BY tournament_id, member_id HAVING COUNT(*) > 1
         ORDER BY 1
        """
    )


@check(
    "tournaments.seats_paid",
    "Every slot of a tournament with an entry fee is paid: its fee transfer (key"
    " tournament:<t>:fee:<registration>) takes exactly the fee from that member's wallet in"
    " the tournament's currency, and is not refunded while the slot is held.",
)
def seats_paid() -> Violations:
    return _ids(
        """
        SELECT r.id FROM tournaments_registration r
          JOIN tournaments_tournament t ON t.id = r.tournament_id
         WHERE (r.status IN ('registered', 'checked_in') AND t.entry_fee > 0
                AND r.fee_transfer_id IS NULL)
            OR (r.fee_transfer_id IS NOT NULL AND (
                NOT EXISTS (
                    SELECT 1 FROM ledger_transfer f
                      JOIN ledger_posting p ON p.transfer_id = f.id
                      JOIN ledger_account a ON a.id = p.account_id
                     WHERE f.id = r.fee_transfer_id
                       AND f.idempotency_key
                           = 'tournament:' || r.tournament_id || ':fee:' || r.id
                       AND a.member_id = r.member_id AND a.currency_id = t.currency_id
                       AND p.amount = -t.entry_fee)
                OR (r.status IN ('registered', 'checked_in') AND EXISTS (
                    SELECT 1 FROM ledger_transfer x WHERE x.reverses_id = r.fee_transfer_id))))
         ORDER BY r.id
        """
    )


@check(
    "tournaments.withdrawals_refunded",
    "Every withdrawn registration that paid its fee was refunded: its refund transfer is the"
    " reversal of that fee.",
)
def withdrawals_refunded() -> Violations:
    return _ids(
        """
        SELECT r.id FROM tournaments_registration r
         WHERE r.status = 'withdrawn' AND r.fee_transfer_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ledger_transfer x
                            WHERE x.id = r.refund_transfer_id
                              AND x.reverses_id = r.fee_transfer_id)
        UNION
        SELECT r.id FROM tournaments_registration r
         WHERE r.refund_transfer_id IS NOT NULL AND r.status <> 'withdrawn'
         ORDER BY 1
        """
    )


@check(
    "tournaments.prizes_paid_once",
    "Prizes are paid at most once per tournament, only once it is completed, and exactly"
    " as its prize table says for its players' placements.",
)
def prizes_paid_once() -> Violations:
    bad: set[int] = set()
    # Prize transfers naming a tournament: one per tournament, the one it records.
    paid = Transfer.objects.filter(kind=TransferKind.PRIZE, context__has_key="tournament_id")
    seen: dict[int, int] = {}
    for transfer_id, context, key in paid.values_list("pk", "context", "idempotency_key"):
        tournament_id = context.get("tournament_id")
        if not isinstance(tournament_id, int):
            continue
        if tournament_id in seen or key != prizes_key(tournament_id):
            bad.add(tournament_id)
        seen[tournament_id] = transfer_id
    recorded = dict(
        Tournament.objects.filter(prize_transfer__isnull=False).values_list(
            "pk", "prize_transfer_id"
        )
    )
    for tournament_id, transfer_id in seen.items():
        if recorded.get(tournament_id) != transfer_id:
            bad.add(tournament_id)
    completed = Tournament.objects.filter(status=Status.COMPLETED).select_related("currency")
    for tournament in completed.iterator(chunk_size=500):
        owed: dict[int, int] = {}
        for member_id, place in Registration.objects.filter(
            tournament=tournament, placement__isnull=False
        ).values_list("member_id", "placement"):
            amount = tournament.prize_table.get(str(place), 0)
            if amount:
                owed[member_id] = owed.get(member_id, 0) + amount
        got: dict[int, int] = {}
        if tournament.prize_transfer_id is not None:
            for member_id, currency_id, amount in Posting.objects.filter(
                transfer_id=tournament.prize_transfer_id, account__member__isnull=False
            ).values_list("account__member_id", "account__currency_id", "amount"):
                if currency_id != tournament.currency_id:
                    bad.add(tournament.pk)
                got[member_id] = got.get(member_id, 0) + amount
        if owed != got:
            bad.add(tournament.pk)
    return Violations.from_ids(sorted(bad))


@check(
    "tournaments.bracket_advances",
    "In single elimination every decided match's winner plays in the match it feeds, on its"
    " side, and every filled side of a later match is its feeder's winner.",
)
def bracket_advances() -> Violations:
    side = "CASE WHEN m.slot %% 2 = 1 THEN n.home_id ELSE n.away_id END"  # %% : params follow
    return _ids(
        f"""
        SELECT m.id FROM tournaments_match m
          JOIN tournaments_tournament t ON t.id = m.tournament_id AND t.format = %s
          JOIN tournaments_match n ON n.tournament_id = m.tournament_id
               AND n.round = m.round + 1 AND n.slot = (m.slot + 1) / 2
         WHERE m.winner_id IS NOT NULL AND ({side} IS NULL OR {side} <> m.winner_id)
        UNION
        SELECT n.id FROM tournaments_match n
          JOIN tournaments_tournament t ON t.id = n.tournament_id AND t.format = %s
          JOIN tournaments_match m ON m.tournament_id = n.tournament_id
               AND m.round = n.round - 1 AND (m.slot + 1) / 2 = n.slot
         WHERE {side} IS NOT NULL AND (m.winner_id IS NULL OR m.winner_id <> {side})
         ORDER BY 1
        """,
        [Format.SINGLE_ELIMINATION, Format.SINGLE_ELIMINATION],
    )


@check(
    "tournaments.settings_history_current",
    "Every tournament's settings read as its latest history version (PostgreSQL; a row"
    " changed with the history triggers off fails; sampled: 'tournament:<id>').",
)
def settings_history_current() -> Violations:

    return history_violations(rows_unlike_their_history, Tournament)

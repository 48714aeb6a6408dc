"""Read models over the ledger: leaderboards and statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from ledger.exceptions import InvalidRequest, UnknownCurrency
from ledger.models import Account, Currency, Posting
from ledger.plans import check_currency, member_id_of

MAX_LIMIT = 500
# The first transfer at or after a time (one parameter), for reading a period's postings
# by the index on their transfer_id: transfer ids follow time (a transfer is numbered as
# it is written), so the postings from that id on are the period's and few others, where
# joining on the transfers' time read every posting (10.6M at 1,000,000 members). The
# transfers' own time still decides what counts. `id + 0`: aggregate the period's
# transfers (the index on created_at); MIN(id) would walk the primary key from the start.
SINCE_FIRST = "(SELECT MIN(id + 0) FROM ledger_transfer WHERE created_at >= %s)"


@dataclass(frozen=True)
class Rank:
    rank: int  # standard competition ranking: equal amounts share a rank (1, 2, 2, 4)
    member_id: int
    display_name: str
    amount: int


def known_currency(currency: str) -> int:
    """The id of `currency`; UnknownCurrency if there is none."""
    check_currency(currency)
    currency_id = Currency.objects.filter(code=currency).values_list("pk", flat=True).first()
    if currency_id is None:
        raise UnknownCurrency(f"no currency {currency!r}")
    return currency_id


def _limit(limit) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit is an integer from 1 to {MAX_LIMIT}")
    return limit


def leaderboard(
    currency: str = "points",
    *,
    limit: int = 20,
    around=None,
    since: datetime | None = None,
) -> list[Rank]:
    """The top `limit` members of `currency`, or the `limit` rows centred on `around`.

    All time ranks balances (a top-N sort of the currency's wallets: no index covers
    balance, so wallet updates stay in place; callers cache it); `since` ranks what
    each member gained since then (the net of their postings, positive only). Ties share
    a rank and are listed by member id, so the order never changes between reads."""
    currency_id, limit = known_currency(currency), _limit(limit)
    if since is None:
        source = (
            "SELECT a.member_id, a.balance AS amount FROM ledger_account a"
            " WHERE a.currency_id = %s AND a.member_id IS NOT NULL"
        )
        params: list = [currency_id]
    else:
        # The postings by transfer id from the first transfer since then (SINCE_FIRST),
        # summed per account before the accounts are joined (a member has one wallet of
        # a currency): one lookup per wallet that moved, not per posting (a week at
        # 1,000,000 members: 2.8 s to 1.4 s).
        source = (
            "SELECT a.member_id, s.amount FROM ("
            " SELECT p.account_id, CAST(SUM(p.amount) AS BIGINT) AS amount"
            " FROM ledger_transfer t JOIN ledger_posting p ON p.transfer_id = t.id"
            f" WHERE t.created_at >= %s AND p.transfer_id >= {SINCE_FIRST}"
            " GROUP BY p.account_id HAVING SUM(p.amount) > 0) s"
            " JOIN ledger_account a ON a.id = s.account_id"
            " WHERE a.currency_id = %s AND a.member_id IS NOT NULL"
        )
        since = connection.ops.adapt_datetimefield_value(since)
        params = [since, since, currency_id]
    ranked = (
        "SELECT s.member_id, s.amount,"
        " RANK() OVER (ORDER BY s.amount DESC) AS rank,"
        " ROW_NUMBER() OVER (ORDER BY s.amount DESC, s.member_id) AS position"
        f" FROM ({source}) s"
    )
    if around is None and since is None:
        # A bounded top-N sort: keeps only `limit` rows in memory.
        window = (
            "SELECT a.member_id, a.balance AS amount,"
            " RANK() OVER (ORDER BY a.balance DESC) AS rank,"
            " ROW_NUMBER() OVER (ORDER BY a.balance DESC, a.member_id) AS position"
            " FROM ledger_account a WHERE a.currency_id = %s AND a.member_id IS NOT NULL"
            " ORDER BY a.balance DESC, a.member_id LIMIT %s"
        )
        params = [*params, limit]
    elif around is None:
        window = f"SELECT * FROM ({ranked}) r ORDER BY position LIMIT %s"
        params = [*params, limit]
    else:
        # The member's own position, then the rows around it (half above, half below).
        # The position is a scalar subquery, read once (none: no rows); joined as a CTE,
        # PostgreSQL rescanned it for every ranked row (over 30 s at 100,000 members).
        window = (
            f"WITH r AS ({ranked})"
            " SELECT r.* FROM r"
            " WHERE r.position >= (SELECT GREATEST(1, position - %s) FROM r WHERE member_id = %s)"
            " ORDER BY r.position LIMIT %s"
        )
        if connection.vendor == "sqlite":
            window = window.replace("GREATEST(", "MAX(")
        params = [*params, limit // 2, member_id_of(around), limit]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT w.rank, w.member_id, m.display_name, w.amount FROM ({window}) w"
            " JOIN accounts_member m ON m.id = w.member_id ORDER BY w.position",
            params,
        )
        return [Rank(*row) for row in cursor.fetchall()]


def gains_since(currency: str, member_ids, since: datetime) -> dict[int, int]:
    """What each of these members' `currency` wallets gained since `since` (the net of its
    postings by their transfers' time; members whose wallet did not move are left out):
    the leaderboard's `since` amount of a few members, read by their wallets' postings."""
    ids = [int(m) for m in member_ids]
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.member_id, SUM(p.amount) FROM ledger_account a"
            " JOIN ledger_currency c ON c.id = a.currency_id"
            " JOIN ledger_posting p ON p.account_id = a.id"
            " JOIN ledger_transfer t ON t.id = p.transfer_id"
            f" WHERE c.code = %s AND a.member_id IN ({', '.join(['%s'] * len(ids))})"
            " AND t.created_at >= %s GROUP BY a.member_id",
            [currency, *ids, connection.ops.adapt_datetimefield_value(since)],
        )
        return {member_id: int(total) for member_id, total in cursor.fetchall()}


@dataclass(frozen=True)
class Flow:
    currency: str
    issued: int  # what the issuance account paid out
    spent: int  # what the sinks (sink:<name>) took in


def flows_since(when: datetime) -> list[Flow]:
    """What was issued and spent in each currency since `when` (the dashboard's counters).

    The postings of the transfers since then (the index on ledger_transfer.created_at)
    are summed per account first (system accounts' postings have no version), then the
    few system accounts joined: the planner has no per-account statistics, and joining
    the system accounts first probed today's transfers with each of their postings (half
    of all postings: 1.7 s at 100,000 members, 0.3 s this way)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT c.code,
                   COALESCE(SUM(CASE WHEN a.name = 'issuance' THEN moved.total END), 0),
                   COALESCE(SUM(CASE WHEN a.name LIKE 'sink:%%' THEN moved.total END), 0)
              FROM (SELECT p.account_id, SUM(p.amount) AS total
                      FROM ledger_transfer t
                      JOIN ledger_posting p ON p.transfer_id = t.id
                     WHERE t.created_at >= %s AND p.version IS NULL
                       AND p.transfer_id >= {SINCE_FIRST}
                     GROUP BY p.account_id) moved
              JOIN ledger_account a ON a.id = moved.account_id
              JOIN ledger_currency c ON c.id = a.currency_id
             WHERE a.member_id IS NULL
             GROUP BY c.code ORDER BY c.code
            """,
            [connection.ops.adapt_datetimefield_value(when)] * 2,
        )
        return [Flow(code, -int(issued), int(spent)) for code, issued, spent in cursor.fetchall()]


@dataclass(frozen=True)
class Line:
    posting_id: int
    transfer_id: int
    created_at: datetime
    kind: str
    reason: str
    amount: int
    balance: int  # the wallet's balance after this line
    version: int


def statement(member, currency: str = "points", *, limit: int = 50, before: int | None = None):
    """The member's wallet history in `currency`, newest first, with the running balance.

    `before` (a version) pages back: pass the last line's version to get the next page."""
    currency_id, limit = known_currency(currency), _limit(limit)
    wallet = Account.objects.filter(member_id=member_id_of(member), currency_id=currency_id)
    wallet_id = wallet.values_list("pk", flat=True).first()
    if wallet_id is None:
        return []
    # The wallet's id first, and its postings by the (account, version) unique index: it
    # is partial (version IS NOT NULL: a wallet's postings are all numbered), so the query
    # must say so, and `account IN (subquery)` read every posting (1.0 s of the member
    # page at 1,000,000 members; docs/benchmarks/2026-12-06-scale.md).
    postings = Posting.objects.filter(account_id=wallet_id, version__isnull=False)
    postings = postings.select_related("transfer")
    if before is not None:
        postings = postings.filter(version__lt=before)
    return [
        Line(
            posting_id=p.pk,
            transfer_id=p.transfer_id,
            created_at=p.transfer.created_at,
            kind=p.transfer.kind,
            reason=p.transfer.reason,
            amount=p.amount,
            balance=p.balance_after,
            version=p.version,
        )
        for p in postings.order_by("-version")[:limit]
    ]


def balance(member, currency: str = "points") -> tuple[int, int]:
    """(balance, available) of the member's wallet; (0, 0) if none is open."""
    wallet = (
        Account.objects.filter(member_id=member_id_of(member), currency__code=currency)
        .values_list("balance", "held")
        .first()
    )
    if wallet is None:
        known_currency(currency)
        return 0, 0
    return wallet[0], wallet[0] - wallet[1]

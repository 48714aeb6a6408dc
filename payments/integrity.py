"""Payments integrity checks: each a set-based query returning the ids breaking one rule.

On PostgreSQL the triggers refuse these rows as they are written; the checks prove it
after the fact on both backends (SQLite has no triggers) and after a restore. The SQL
runs unchanged on PostgreSQL and SQLite."""

from __future__ import annotations

from django.db import connection

from integrity.registry import Violations, check
from payments.models import READING_SINK


def _ids(sql: str, params=()) -> Violations:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return Violations.from_ids(row[0] for row in cursor.fetchall())


# What a transfer moved in one member's wallet of one currency.
_MOVED = """
    SELECT COALESCE(SUM(po.amount), 0) FROM ledger_posting po
      JOIN ledger_account a ON a.id = po.account_id
     WHERE po.transfer_id = {transfer} AND a.member_id = p.member_id
       AND a.currency_id = p.credit_currency_id
"""


@check(
    "payments.credit_matches_payment",
    "A completed or refunded payment's transfer credits exactly its credit to the member.",
)
def credit_matches_payment() -> Violations:
    return _ids(
        f"""
        SELECT p.id FROM payments_payment p
         WHERE p.status IN ('completed', 'refunded')
           AND (p.transfer_id IS NULL OR ({_MOVED.format(transfer="p.transfer_id")})
                <> p.credit_amount)
         ORDER BY p.id
        """
    )


@check(
    "payments.refund_takes_back_credit",
    "A refunded payment's refund took back its credit less what was written off.",
)
def refund_takes_back_credit() -> Violations:
    return _ids(
        f"""
        SELECT p.id FROM payments_payment p
         WHERE p.status = 'refunded'
           AND -({_MOVED.format(transfer="p.refund_transfer_id")})
               <> p.credit_amount - p.written_off
         ORDER BY p.id
        """
    )


@check(
    "payments.reading_paid",
    "Each reading's hold is a captured reading hold of its member, captured into its transfer.",
)
def reading_paid() -> Violations:
    return _ids(
        """
        SELECT r.id FROM payments_reading r
          LEFT JOIN ledger_hold h ON h.id = r.hold_id
          LEFT JOIN ledger_account a ON a.id = h.account_id
         WHERE h.id IS NULL OR h.sink <> %s OR h.status <> 'captured'
            OR h.transfer_id IS NULL OR h.transfer_id <> r.transfer_id
            OR a.member_id <> r.member_id
         ORDER BY r.id
        """,
        [READING_SINK],
    )


@check(
    "payments.captured_reading_written",
    "Every captured reading hold has its reading (no reading paid for and never written).",
)
def captured_reading_written() -> Violations:
    return _ids(
        """
        SELECT h.id FROM ledger_hold h
         WHERE h.sink = %s AND h.status = 'captured'
           AND NOT EXISTS (SELECT 1 FROM payments_reading r WHERE r.hold_id = h.id)
         ORDER BY h.id
        """,
        [READING_SINK],
    )

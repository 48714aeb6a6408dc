"""The bank test's checks, in SQL after the run: the books close, every wallet matches its
postings, every transfer balances, every key holds its original request, and the
workers' reports agree with the rows."""

from __future__ import annotations

import importlib.util
from collections import defaultdict

from django.db import connection

from ledger.models import Hold
from tests.ledger.bank_plan import KILLED_KEY, MEMBERS, SINKS, base_op

# --- the checks -----------------------------------------------------------------------


def rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def scalar(sql: str, params=None):
    return rows(sql, params)[0][0]


def assert_books_close() -> None:
    systems = {name for (name,) in rows("SELECT name FROM ledger_account WHERE member_id IS NULL")}
    assert systems <= {"issuance", *(f"sink:{s}" for s in SINKS)}, systems
    issued = -scalar(
        "SELECT COALESCE(SUM(p.amount), 0) FROM ledger_posting p"
        " JOIN ledger_account a ON a.id = p.account_id"
        " WHERE a.member_id IS NULL AND a.name = 'issuance'"
    )
    sunk = scalar(
        "SELECT COALESCE(SUM(p.amount), 0) FROM ledger_posting p"
        " JOIN ledger_account a ON a.id = p.account_id"
        " WHERE a.member_id IS NULL AND a.name LIKE 'sink:%'"
    )
    wallets = scalar(
        "SELECT COALESCE(SUM(balance), 0) FROM ledger_account WHERE member_id IS NOT NULL"
    )
    assert issued - sunk == wallets, (issued, sunk, wallets)
    assert issued > 0
    assert sunk > 0


def assert_wallets_match_postings() -> None:
    wallets = rows(
        """
        SELECT a.id, a.balance, a.held, a.version,
               COALESCE(SUM(p.amount), 0), COUNT(p.id),
               COALESCE(MIN(p.version), 0), COALESCE(MAX(p.version), 0),
               COUNT(DISTINCT p.version),
               COALESCE((SELECT SUM(h.amount) FROM ledger_hold h
                          WHERE h.account_id = a.id AND h.status = 'pending'), 0)
          FROM ledger_account a LEFT JOIN ledger_posting p ON p.account_id = a.id
         WHERE a.member_id IS NOT NULL
         GROUP BY a.id ORDER BY a.id
        """
    )
    assert len(wallets) >= MEMBERS
    for wid, balance, held, version, total, count, low, high, distinct, pending in wallets:
        assert balance >= 0, f"wallet {wid} is negative: {balance}"
        assert 0 <= held <= balance, f"wallet {wid}: held {held} of balance {balance}"
        assert balance == total, f"wallet {wid}: cached {balance}, postings sum to {total}"
        assert held == pending, f"wallet {wid}: held {held}, pending holds {pending}"
        assert version == count, f"wallet {wid}: version {version}, {count} postings"
        if count:
            assert (low, high, distinct) == (1, count, count), f"wallet {wid}: versions gap"
    broken_chains = rows(
        """
        SELECT account_id, version FROM (
            SELECT p.account_id, p.version, p.balance_after,
                   SUM(p.amount) OVER (PARTITION BY p.account_id ORDER BY p.version) AS running
              FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id
             WHERE a.member_id IS NOT NULL) chain
         WHERE balance_after IS DISTINCT FROM running
        """
    )
    assert broken_chains == []


def assert_transfers_balanced() -> None:
    unbalanced = rows(
        "SELECT transfer_id, SUM(amount) FROM ledger_posting GROUP BY transfer_id"
        " HAVING SUM(amount) <> 0"
    )
    assert unbalanced == []
    empty = rows(
        "SELECT t.id FROM ledger_transfer t"
        " WHERE NOT EXISTS (SELECT 1 FROM ledger_posting p WHERE p.transfer_id = t.id)"
    )
    assert empty == []
    assert (
        rows(
            "SELECT idempotency_key FROM ledger_transfer GROUP BY idempotency_key"
            " HAVING COUNT(*) > 1"
        )
        == []
    )
    # Each transfer committed its event with it, and nothing else did.
    missing_events = rows(
        "SELECT t.id FROM ledger_transfer t WHERE (SELECT COUNT(*) FROM events_event e"
        " WHERE e.kind = 'ledger.transfer_posted' AND e.subject = 'transfer:' || t.id) <> 1"
    )
    assert missing_events == []
    assert scalar(
        "SELECT COUNT(*) FROM events_event WHERE kind = 'ledger.transfer_posted'"
    ) == scalar("SELECT COUNT(*) FROM ledger_transfer")


def effects() -> dict[str, tuple[int, str, int | None, dict, dict]]:
    """Each transfer's (id, kind, reverses_id, member totals, system totals), by key."""
    found: dict[str, tuple] = {}
    for tid, key, kind, reverses_id, member_id, name, amount in rows(
        "SELECT t.id, t.idempotency_key, t.kind, t.reverses_id, a.member_id, a.name, p.amount"
        " FROM ledger_transfer t JOIN ledger_posting p ON p.transfer_id = t.id"
        " JOIN ledger_account a ON a.id = p.account_id ORDER BY p.id"
    ):
        _, _, _, members, systems = found.setdefault(key, (tid, kind, reverses_id, {}, {}))
        if member_id is None:
            systems[name] = systems.get(name, 0) + amount
        else:
            members[member_id] = members.get(member_id, 0) + amount
    return found


def assert_each_key_holds_its_original_request(members: list[int]) -> None:
    """Whoever wrote a key first (original or replay) wrote exactly what the key's
    operation asks; a changed replay never wrote anything."""
    transfers = effects()
    assert KILLED_KEY not in transfers, "the killed transaction's transfer was committed"
    bank = [key for key in transfers if key.startswith("bank:")]
    assert len(bank) > 1000, len(bank)
    for key in bank:
        _, kind, reverses_id, by_member, by_system = transfers[key]
        op = base_op(*map(int, key.split(":")[1:]))
        assert op is not None, key
        if op.kind == "award":
            expected = ("award", {members[op.member]: op.amount}, {"issuance": -op.amount})
        elif op.kind == "spend":
            expected = ("spend", {members[op.member]: -op.amount}, {f"sink:{op.sink}": op.amount})
        elif op.kind == "transfer":
            expected = (
                "transfer",
                {members[op.member]: -op.amount, members[op.other]: op.amount},
                {},
            )
        else:
            assert op.kind == "reverse", (key, op)
            original_id, _, _, original_members, original_systems = transfers[op.target]
            assert reverses_id == original_id, key
            expected = (
                "reversal",
                {m: -a for m, a in original_members.items()},
                {s: -a for s, a in original_systems.items()},
            )
        assert (kind, by_member, by_system) == expected, key
    for key, member_id, amount, sink in Hold.objects.filter(
        idempotency_key__startswith="bank:"
    ).values_list("idempotency_key", "account__member_id", "amount", "sink"):
        op = base_op(*map(int, key.split(":")[1:]))
        assert op is not None, key
        assert (op.kind, member_id, amount, sink) == (
            "hold",
            members[op.member],
            op.amount,
            f"sink:{op.sink}",
        ), key
    captured = rows(
        "SELECT h.id FROM ledger_hold h WHERE h.status = 'captured' AND NOT EXISTS ("
        " SELECT 1 FROM ledger_posting p WHERE p.transfer_id = h.transfer_id"
        " AND p.account_id = h.account_id AND p.amount = -h.amount)"
    )
    assert captured == []


def assert_reports_agree(records: list[dict]) -> None:
    crashed = [r for r in records if r["outcome"] in ("error", "crashed")]
    assert not crashed, crashed[0]["traceback"]
    changed = [r for r in records if r["mode"] == "changed" and "key" in r]
    assert len(changed) >= 20, len(changed)  # ~1% of 8000, less the earliest slots
    for record in changed:
        assert record["outcome"] == "IdempotencyConflict", record
        assert "amount" in record["fields"], record
    conflicts = [r for r in records if r["outcome"] == "IdempotencyConflict"]
    assert len(conflicts) == len(changed), [r for r in conflicts if r["mode"] != "changed"][:3]
    replays = [r for r in records if r["mode"] == "replay"]
    assert len(replays) >= 0.15 * len(records)

    transfer_ids = dict(rows("SELECT idempotency_key, id FROM ledger_transfer"))
    hold_ids = dict(Hold.objects.values_list("idempotency_key", "id"))
    writers: dict[str, int] = defaultdict(int)
    for record in records:
        if record["outcome"] != "ok" or not record.get("key"):
            continue
        key = record["key"]
        if record["kind"] == "hold":
            assert hold_ids.get(key) == record["id"], record
        else:
            assert transfer_ids.get(key) == record["id"], record
            writers[key] += not record["replayed"]
    assert max(writers.values()) == 1, "a key was written twice"
    captures: dict[str, set[int]] = defaultdict(set)
    for record in records:
        if record.get("kind") == "capture" and record["outcome"] == "ok":
            captures[record["target"]].add(record["id"])
    assert all(len(ids) == 1 for ids in captures.values()), "a hold captured twice"


def run_integrity_checks() -> None:
    if importlib.util.find_spec("ledger.integrity") is None:
        return
    from integrity.registry import all_checks
    from integrity.runner import run_checks

    names = [c.name for c in all_checks() if c.name.startswith("ledger.")]
    assert names, "ledger.integrity registered no checks"
    report = run_checks(names)
    assert report.ok, [r for r in report.checks if r.status != "ok"]

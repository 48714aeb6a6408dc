"""The hot statements find their rows by key on tables PostgreSQL has never analyzed.

A new community runs on a freshly migrated database. Until autovacuum (or an operator)
has analyzed its tables the planner works from guesses: a table never analyzed is taken
to be at least ten pages, every column to hold 200 distinct values. The plans it makes then
are kept by the connection (the hot statements run prepared, with generic plans), so a
plan that reads a table whole costs more with every member who joins. Each test here sets
our tables back to that state for its own transaction (the rollback restores the catalog),
runs the actions as a bot would, and reads the plans they got, triggers included, from
auto_explain. What the difference costs is measured by bench/fresh.py
(docs/benchmarks/2026-12-06.md).
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager

import pytest
from django.db import connection

from accounts.actions import register_member
from ledger.actions import award
from narrative.actions import make_choice, start_story
from narrative.demo import load_demo_story
from narrative.models import Choice
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import sql
from tournaments.actions import register

pytestmark = pytest.mark.postgres

MEMBERS = 30  # a new community: its tables a page or two, their statistics still empty

# auto_explain, for this transaction only: every statement's plan, nested ones (triggers,
# functions) too, with the rows each node read; timing off (not what is asserted).
AUTO_EXPLAIN = {
    "auto_explain.log_min_duration": "0",
    "auto_explain.log_analyze": "on",
    "auto_explain.log_timing": "off",
    "auto_explain.log_nested_statements": "on",
    "auto_explain.log_format": "json",
    "client_min_messages": "log",
}


@pytest.fixture
def community(db):
    """MEMBERS members registered as bots register them, their deferred checks run."""
    if not sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0][0]:
        pytest.skip("resetting the planner's statistics and loading auto_explain need a superuser")
    members = [MemberFactory() for _ in range(MEMBERS)]
    # Deferred checks from here on run at the end of each statement, not at a commit the
    # test never makes: the setup's now, the measured actions' inside explained().
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    return members


def never_analyzed() -> None:
    """Until the test's transaction ends, our tables look to the planner as they did right
    after migrate: never analyzed (reltuples -1, relpages 0) and no column statistics.
    Cached plans that read them are invalidated and made again."""
    tables = (
        "SELECT oid FROM pg_class WHERE relkind = 'r'"
        " AND relnamespace = current_schema()::regnamespace"
    )
    sql(
        "UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 0"
        f" WHERE oid IN ({tables})"
    )
    sql(f"DELETE FROM pg_statistic WHERE starelid IN ({tables})")


@contextmanager
def explained():
    """The plans (auto_explain's JSON: "Query Text", "Plan") of what runs in the block."""
    plans: list[dict] = []

    def heard(diagnostic) -> None:
        head, found, body = (diagnostic.message_primary or "").partition("plan:\n")
        if found and head.startswith("duration:"):
            plans.append(json.loads(body))

    connection.ensure_connection()
    sql("LOAD 'auto_explain'")
    for name, value in AUTO_EXPLAIN.items():
        sql(f"SET LOCAL {name} = '{value}'")
    connection.connection.add_notice_handler(heard)
    try:
        yield plans
    finally:
        connection.connection.remove_notice_handler(heard)
        sql("SET LOCAL auto_explain.log_min_duration = '-1'")
        sql("SET LOCAL client_min_messages = 'notice'")


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def scans(plans: list[dict], table: str) -> list[dict]:
    """The plan nodes that read `table`."""
    return [
        node
        for plan in plans
        for node in nodes(plan["Plan"])
        if node.get("Relation Name") == table and node["Node Type"].endswith("Scan")
    ]


def conditions(node: dict) -> str:
    return " ".join(node.get(key, "") for key in ("Index Cond", "Recheck Cond", "Filter"))


def compares(condition: str, column: str) -> bool:
    """`condition` compares `column` (`a.id = ...`, `(external_id)::text = ...`; not
    `member_id` for `id`)."""
    return bool(re.search(rf"\b{column}\b[)\w:]*\s*(=|<|>)", condition))


def keyed(node: dict, column: str) -> bool:
    """`node` finds its rows through an index on `column` (not a filter over a scan)."""
    index = node.get("Index Cond", "") + node.get("Recheck Cond", "")
    return node["Node Type"] in {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"} and (
        compares(index, column)
    )


def rows_read(node: dict) -> int:
    kept = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
    return (kept + node.get("Rows Removed by Index Recheck", 0)) * node["Actual Loops"]


def describe(nodes_: list[dict]) -> list[str]:
    return [
        f"{n['Node Type']} {n.get('Index Name', '')} [{conditions(n)}] read {rows_read(n)}"
        for n in nodes_
    ]


def assert_looked_up_by(plans: list[dict], table: str, column: str) -> None:
    """Wherever these statements look `table` up by `column`, an index on it finds the rows."""
    lookups = [node for node in scans(plans, table) if compares(conditions(node), column)]
    assert lookups, f"no lookup of {table} by {column} in {[p['Query Text'][:80] for p in plans]}"
    assert all(keyed(node, column) for node in lookups), describe(lookups)


def test_the_balance_check_reads_only_the_transfers_own_postings_and_accounts(community):
    """Every transfer's postings must sum to zero per currency (a deferred trigger on
    ledger_posting). Planned without statistics, its join of postings to accounts read
    every account of the currency for each transfer: at 1,000 members an award cost its
    backend 1.7-1.9 times the CPU it cost after ANALYZE."""
    never_analyzed()
    with explained() as plans:
        award(community[0], 5, reason="first hour", idempotency_key="fresh-balance-check")
    check = [plan for plan in plans if "NEW.transfer_id" in plan["Query Text"]]
    assert check, "the balance check did not run"
    accounts = scans(check, "ledger_account")
    postings = scans(check, "ledger_posting")
    assert accounts
    assert all(keyed(node, "id") for node in accounts), describe(accounts)
    assert postings
    assert all(keyed(node, "transfer_id") for node in postings), describe(postings)
    # An award posts twice (the wallet, the issuance account): two accounts to look at.
    assert sum(rows_read(node) for node in accounts) <= 2, describe(accounts)


def test_the_hot_statements_find_their_rows_by_key_on_fresh_tables(community):
    """Registration, award, tournament entry and story decision on never-analyzed tables.
    A story decision asked whether the member had started the story through the story's
    index (a row for every reader) until its lookup was made to go through the member's;
    the other lookups were keyed already, and are held to it here."""
    tournament = TournamentFactory(entry_fee=0, capacity=64)
    story = load_demo_story()
    first = Choice.objects.filter(chapter__story=story, chapter__number=1).first()
    for member in community[1:11]:  # ten readers: the story's index holds a row for each
        start_story(member, story)
    reader = community[1]
    never_analyzed()

    with explained() as plans:
        register_member(platform="web", external_id="fresh-newcomer", username="newcomer")
    assert_looked_up_by(plans, "accounts_identity", "external_id")
    with explained() as plans:  # the same bot /start again: the repeat is one lookup
        register_member(platform="web", external_id="fresh-newcomer", username="newcomer")
    assert_looked_up_by(plans, "accounts_identity", "external_id")

    with explained() as plans:
        award(community[2], 7, reason="first hour", idempotency_key="fresh-hot-award")
    assert_looked_up_by(plans, "ledger_account", "member_id")

    with explained() as plans:
        register(tournament, community[3])
    assert_looked_up_by(plans, "tournaments_tournament", "id")

    with explained() as plans:
        make_choice(reader, first)
    assert_looked_up_by(plans, "narrative_progress", "member_id")
    assert_looked_up_by(plans, "narrative_decision", "member_id")

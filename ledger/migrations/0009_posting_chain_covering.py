"""The index of `ledger_posting_account_version_unique` (a wallet's postings numbered
once) also carries each posting's amount and balance_after (PostgreSQL: `INCLUDE`), so
the chain check (`ledger.integrity.wallet_versions_continuous`) reads the index alone, in
order, instead of every posting's row (14.5 s to 3 s at 1,000,000 members,
docs/benchmarks/2026-12-06-scale.md). Postings are never updated: the wider index costs
space only.

Built CONCURRENTLY beside the old index, which is then dropped CONCURRENTLY and the new
one given its name: postings stay readable and writable throughout, and the rule holds
at every moment (both indexes are unique). Not in a transaction, hence `atomic = False`;
a run interrupted mid-way leaves an invalid `..._cover` index, dropped by the next run.
The model keeps its plain constraint (Django would make none with `include` on SQLite,
which has no covering indexes): nothing here changes on SQLite."""

from django.db import migrations

OLD = "ledger_posting_account_version_unique"
NEW = "ledger_posting_account_version_cover"
COLUMNS = "ledger_posting (account_id, version){include} WHERE version IS NOT NULL"


def _swap(schema_editor, include: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    target = COLUMNS.format(include=include)
    for statement in (
        f"DROP INDEX CONCURRENTLY IF EXISTS {NEW}",
        f"CREATE UNIQUE INDEX CONCURRENTLY {NEW} ON {target}",
        f"DROP INDEX CONCURRENTLY IF EXISTS {OLD}",
        f"ALTER INDEX {NEW} RENAME TO {OLD}",
    ):
        schema_editor.execute(statement)


def cover(apps, schema_editor):
    _swap(schema_editor, " INCLUDE (amount, balance_after)")


def uncover(apps, schema_editor):
    _swap(schema_editor, "")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("ledger", "0008_history")]

    operations = [migrations.RunPython(cover, uncover, atomic=False)]

"""Indexes only the rollups read (bench/analytics.py, docs/benchmarks/2026-12-06-analytics.md):
activity days by day (members.dau/wau/mau and retention.active: index-only scans of a
day range instead of the whole table) and members by registration time
(members.registered and referrals.converted per hour and day). They live here, not in
ledger or accounts, because analytics is their only reader; each costs one more index
entry per activity day and per registration."""

from django.db import migrations

INDEXES = [
    ("analytics_activityday_by_day", "ledger_activityday", "day, member_id"),
    ("analytics_member_by_created_at", "accounts_member", "created_at"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_roles"),
        ("ledger", "0007_balance_check_by_key"),
        ("accounts", "0006_display_names_printable"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})",
            f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, columns in INDEXES
    ]

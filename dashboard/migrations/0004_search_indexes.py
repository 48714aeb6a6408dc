"""Indexes the members list reads (PostgreSQL; bench/analytics.py,
docs/benchmarks/2026-12-06-scale.md): trigram indexes for a part of a display name, of a
username and of an email (Django's icontains is `UPPER(col::text) LIKE UPPER(%q%)`, which
a GIN trigram index on that expression serves), platform ids by value (the unique index
leads with the platform), and members by name. The search is a UNION of one lookup per
key (`dashboard.members_list.Listing`), each one of these. Cost: an index entry per
registration and per identity (a trigram index's several per name)."""

from django.db import migrations

INDEXES = [
    (
        "dashboard_member_name_trigrams",
        "accounts_member USING gin (UPPER(display_name::text) gin_trgm_ops)",
    ),
    (
        "dashboard_member_email_trigrams",
        "accounts_member USING gin (UPPER(email_normalized::text) gin_trgm_ops)",
    ),
    (
        "dashboard_identity_username_trigrams",
        "accounts_identity USING gin (UPPER(username::text) gin_trgm_ops)",
    ),
    ("dashboard_identity_by_external_id", "accounts_identity (external_id)"),
    # Sorting by name (the list's `sort=name`, ties by id): the first page read in index
    # order instead of sorting every member (159 ms to 27 ms at 100,000 members; with a
    # platform filter 538 ms to 156 ms).
    ("dashboard_member_by_name", "accounts_member (display_name, id)"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, target in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0003_roles"),
        ("accounts", "0009_subscription_profile_identity_rules"),
    ]

    operations = [migrations.RunPython(create, drop)]

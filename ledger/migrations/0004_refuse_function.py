"""`ledger_short()`: lets the posting statement abort itself (PostgreSQL only).

The posting statement writes the transfer before it knows every wallet can cover its
change; when one cannot, its last expression calls this to raise, so the statement is
atomic by itself and may run without BEGIN/COMMIT."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION ledger_short(transfer_key text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a wallet cannot cover transfer %', transfer_key
        USING ERRCODE = 'CL001';
END
$$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS ledger_short(text)")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_tighter_rules")]

    operations = [migrations.RunPython(create, drop)]

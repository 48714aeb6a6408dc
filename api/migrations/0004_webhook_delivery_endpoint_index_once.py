"""WebhookDelivery.endpoint loses its own index: the unique (endpoint, seq) index leads
with it and serves every lookup by endpoint (one index entry fewer for every delivery
queued). Only the index is dropped, as in 0003 (`DROP INDEX IF EXISTS`), and on
PostgreSQL CONCURRENTLY: deliveries are queued and sent while it goes (no transaction
around this migration, `atomic = False`)."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "api_webhookdelivery_endpoint_id_0a262f46"


def drop_index(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{INDEX}"')


def create_index(apps, schema_editor):
    """Back: built anew (an interrupted concurrent build leaves an invalid index, which
    `IF NOT EXISTS` would keep)."""
    drop_index(apps, schema_editor)
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f'CREATE INDEX {concurrently}"{INDEX}" ON "api_webhookdelivery" ("endpoint_id")'
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("api", "0003_idempotency_key_index_once"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookdelivery",
                    name="endpoint",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="api.webhookendpoint",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_index, create_index)],
        ),
    ]

"""WebhookDelivery.endpoint loses its own index: the unique (endpoint, seq) index leads
with it and serves every lookup by endpoint (one index entry fewer for every delivery
queued). Only the index is dropped (quick, no scan), as in 0003."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "api_webhookdelivery_endpoint_id_0a262f46"


class Migration(migrations.Migration):
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
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}"'
                    ' ON "api_webhookdelivery" ("endpoint_id")',
                ),
            ],
        ),
    ]

"""IdempotentRequest.api_key loses its own index: the unique (api_key, key) index leads
with it and serves every lookup by key. Only the index is dropped (quick, no scan): the
foreign key stays as it is, not dropped and re-added as AlterField would (re-adding it
checks every row while writes wait)."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "api_idempotentrequest_api_key_id_f29b333c"


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_webhooks"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="idempotentrequest",
                    name="api_key",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="api.apikey",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}"'
                    ' ON "api_idempotentrequest" ("api_key_id")',
                ),
            ],
        ),
    ]

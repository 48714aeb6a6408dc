# Event.subject: from a field index (which on PostgreSQL also made a varchar_pattern_ops
# twin for LIKE that nothing queries, written on every insert and publish) to one Meta
# index. The existing index is renamed, not rebuilt: building one on a large log would
# block every action's INSERT for the duration.

from django.db import migrations, models

OLD = "events_event_subject_6191f33e"
NEW = "events_event_subject"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{OLD}_like"')
        schema_editor.execute(f'ALTER INDEX IF EXISTS "{OLD}" RENAME TO "{NEW}"')
    else:  # SQLite cannot rename an index; its tables are small
        schema_editor.execute(f'DROP INDEX IF EXISTS "{OLD}"')
        schema_editor.execute(f'CREATE INDEX "{NEW}" ON "events_event" ("subject")')


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER INDEX IF EXISTS "{NEW}" RENAME TO "{OLD}"')
        schema_editor.execute(
            f'CREATE INDEX "{OLD}_like" ON "events_event" ("subject" varchar_pattern_ops)'
        )
    else:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{NEW}"')
        schema_editor.execute(f'CREATE INDEX "{OLD}" ON "events_event" ("subject")')


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="subject",
                    field=models.CharField(blank=True, max_length=100),
                ),
                migrations.AddIndex(
                    model_name="event",
                    index=models.Index(fields=["subject"], name=NEW),
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]

"""Archiving (events/archive.py): the Archive table, and the append-only trigger letting
through only the DELETE of events an archive covers (events/sql/event_append_only.pg.sql)."""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0003_relay_position'),
    ]

    operations = [
        migrations.CreateModel(
            name='Archive',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('first_seq', models.BigIntegerField()),
                ('last_seq', models.BigIntegerField()),
                ('before', models.DateTimeField(help_text='Only events created before this were archived.')),
                ('rows', models.PositiveBigIntegerField()),
                ('file', models.CharField(help_text="The file's name in the archive folder.", max_length=255)),
                ('sha256', models.CharField(max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='event',
            name='events_event_append_only',
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='event',
            trigger=pgtrigger.compiler.Trigger(name='events_event_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="IF TG_OP = 'DELETE' AND EXISTS ( SELECT 1 FROM events_archive a WHERE OLD.seq BETWEEN a.first_seq AND a.last_seq AND OLD.created_at < a.before ) AND OLD.seq <= (SELECT min(p.seq) FROM events_relayposition p) THEN RETURN OLD; END IF; RAISE EXCEPTION 'events are append-only: % of event % refused', TG_OP, OLD.seq USING ERRCODE = 'integrity_constraint_violation';", hash='2c31d44caddf18b578cb10c55658d477551f11e2', operation='UPDATE OR DELETE', pgid='pgtrigger_events_event_append_only_096d4', table='events_event', when='BEFORE')),
        ),
        migrations.AddConstraint(
            model_name='archive',
            constraint=models.CheckConstraint(condition=models.Q(('first_seq__lte', models.F('last_seq'))), name='events_archive_range_ordered'),
        ),
        migrations.AddConstraint(
            model_name='archive',
            constraint=models.CheckConstraint(condition=models.Q(('sha256__regex', '^[0-9a-f]{64}\\Z')), name='events_archive_sha256_hex'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='archive',
            trigger=pgtrigger.compiler.Trigger(name='events_archive_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'archives are kept: % of archive % refused', TG_OP, OLD.id USING ERRCODE = 'integrity_constraint_violation';", hash='04bb51fb976fd47ba6053c34c178a76939a447fc', operation='UPDATE OR DELETE', pgid='pgtrigger_events_archive_append_only_ebd68', table='events_archive', when='BEFORE')),
        ),
    ]

# The relay's position replaces each event's `published_at` (issue 15): the column, its
# partial index and the trigger clause that let it be set once go; the trigger now refuses
# every UPDATE and DELETE. The position starts just below the oldest event still
# unpublished (its broadcast had not happened yet: the relay sends it), else at the newest.

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models
from django.utils import timezone


def start_position(apps, schema_editor):
    Event = apps.get_model("events", "Event")
    RelayPosition = apps.get_model("events", "RelayPosition")
    waiting = (
        Event.objects.filter(published_at__isnull=True)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    if waiting is not None:
        seq = waiting - 1
    else:
        seq = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    RelayPosition.objects.create(name="default", seq=seq, moved_at=timezone.now())


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0002_fewer_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='RelayPosition',
            fields=[
                ('name', models.CharField(max_length=32, primary_key=True, serialize=False)),
                ('seq', models.BigIntegerField()),
                ('moved_at', models.DateTimeField()),
            ],
        ),
        migrations.RunPython(start_position, migrations.RunPython.noop),
        pgtrigger.migrations.RemoveTrigger(
            model_name='event',
            name='events_event_append_only',
        ),
        migrations.RemoveIndex(
            model_name='event',
            name='events_event_unpublished',
        ),
        migrations.RemoveField(
            model_name='event',
            name='published_at',
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='event',
            trigger=pgtrigger.compiler.Trigger(name='events_event_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'events are append-only: % of event % refused', TG_OP, OLD.seq USING ERRCODE = 'integrity_constraint_violation';", hash='ec3d684eedab6e0deb42e1084bc6bac488d644ca', operation='UPDATE OR DELETE', pgid='pgtrigger_events_event_append_only_096d4', table='events_event', when='BEFORE')),
        ),
        migrations.AddConstraint(
            model_name='relayposition',
            constraint=models.CheckConstraint(condition=models.Q(('seq__gte', 0)), name='events_relayposition_seq_not_negative'),
        ),
    ]

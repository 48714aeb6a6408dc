"""History of tournament settings (config/history.py), with their first versions."""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from config.history import baseline


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0008_history"),
        ("pghistory", "0007_auto_20250421_0444"),
        ("tournaments", "0003_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name="TournamentEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                ("name", models.CharField(max_length=150)),
                ("game", models.CharField(blank=True, max_length=100)),
                ("entry_fee", models.BigIntegerField(default=0)),
                (
                    "capacity",
                    models.PositiveIntegerField(help_text="Slots: registered + checked in."),
                ),
                (
                    "waitlist_limit",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Longest waitlist; empty: no limit, 0: no waitlist.",
                        null=True,
                    ),
                ),
                (
                    "format",
                    models.CharField(
                        choices=[
                            ("single_elimination", "Single elimination"),
                            ("round_robin", "Round robin"),
                        ],
                        default="single_elimination",
                        max_length=20,
                    ),
                ),
                ("registration_opens_at", models.DateTimeField()),
                ("registration_closes_at", models.DateTimeField()),
                ("check_in_opens_at", models.DateTimeField()),
                ("check_in_closes_at", models.DateTimeField()),
                (
                    "prize_table",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text='Placement to amount, e.g. {"1": 500, "2": 200, "3": 100}.',
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="tournament",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "tournaments_tournamentevent" ("capacity", "check_in_closes_at", "check_in_opens_at", "currency_id", "entry_fee", "format", "game", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "prize_table", "registration_closes_at", "registration_opens_at", "waitlist_limit") VALUES (NEW."capacity", NEW."check_in_closes_at", NEW."check_in_opens_at", NEW."currency_id", NEW."entry_fee", NEW."format", NEW."game", NEW."name", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."prize_table", NEW."registration_closes_at", NEW."registration_opens_at", NEW."waitlist_limit"); RETURN NULL;',
                    hash="bca467cbe445db9f5160771eb854a649deab54d3",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_622d8",
                    table="tournaments_tournament",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="tournament",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (OLD."capacity" IS DISTINCT FROM (NEW."capacity") OR OLD."check_in_closes_at" IS DISTINCT FROM (NEW."check_in_closes_at") OR OLD."check_in_opens_at" IS DISTINCT FROM (NEW."check_in_opens_at") OR OLD."currency_id" IS DISTINCT FROM (NEW."currency_id") OR OLD."entry_fee" IS DISTINCT FROM (NEW."entry_fee") OR OLD."format" IS DISTINCT FROM (NEW."format") OR OLD."game" IS DISTINCT FROM (NEW."game") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."prize_table" IS DISTINCT FROM (NEW."prize_table") OR OLD."registration_closes_at" IS DISTINCT FROM (NEW."registration_closes_at") OR OLD."registration_opens_at" IS DISTINCT FROM (NEW."registration_opens_at") OR OLD."waitlist_limit" IS DISTINCT FROM (NEW."waitlist_limit"))',
                    func='INSERT INTO "tournaments_tournamentevent" ("capacity", "check_in_closes_at", "check_in_opens_at", "currency_id", "entry_fee", "format", "game", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "prize_table", "registration_closes_at", "registration_opens_at", "waitlist_limit") VALUES (NEW."capacity", NEW."check_in_closes_at", NEW."check_in_opens_at", NEW."currency_id", NEW."entry_fee", NEW."format", NEW."game", NEW."name", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."prize_table", NEW."registration_closes_at", NEW."registration_opens_at", NEW."waitlist_limit"); RETURN NULL;',
                    hash="eacf4a7d4363e0966a34421cce6506f98cf4d5a4",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_fa62d",
                    table="tournaments_tournament",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="tournament",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "tournaments_tournamentevent" ("capacity", "check_in_closes_at", "check_in_opens_at", "currency_id", "entry_fee", "format", "game", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "prize_table", "registration_closes_at", "registration_opens_at", "waitlist_limit") VALUES (OLD."capacity", OLD."check_in_closes_at", OLD."check_in_opens_at", OLD."currency_id", OLD."entry_fee", OLD."format", OLD."game", OLD."name", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."prize_table", OLD."registration_closes_at", OLD."registration_opens_at", OLD."waitlist_limit"); RETURN NULL;',
                    hash="846e4f838c86ee663aa69c984a8b28898df92476",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_839dc",
                    table="tournaments_tournament",
                    when="AFTER",
                ),
            ),
        ),
        migrations.AddField(
            model_name="tournamentevent",
            name="currency",
            field=models.ForeignKey(
                db_constraint=False,
                help_text="Entry fees are paid and prizes awarded in this currency.",
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="ledger.currency",
            ),
        ),
        migrations.AddField(
            model_name="tournamentevent",
            name="pgh_context",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="pghistory.context",
            ),
        ),
        migrations.AddField(
            model_name="tournamentevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="versions",
                to="tournaments.tournament",
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="tournamentevent",
            trigger=pgtrigger.compiler.Trigger(
                name="config_changed",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM config_changed(TG_TABLE_NAME::text, 'tournaments.tournament', to_jsonb(NEW)); RETURN NULL;",
                    hash="cae4a7b349701a6b3ef832399255ae011d27dc49",
                    operation="INSERT",
                    pgid="pgtrigger_config_changed_4eaa8",
                    table="tournaments_tournamentevent",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="tournamentevent",
            trigger=pgtrigger.compiler.Trigger(
                name="history_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'history is append-only: % of version % refused', TG_OP, OLD.pgh_id USING ERRCODE = 'integrity_constraint_violation';",
                    hash="33caa54c498783c0a97449e802b75ba62c627f65",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_history_append_only_d57cd",
                    table="tournaments_tournamentevent",
                    when="BEFORE",
                ),
            ),
        ),
        baseline("tournaments", "Tournament"),
    ]

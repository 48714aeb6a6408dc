"""History of currencies and achievements (config/history.py): pghistory's snapshot
tables and triggers, their first versions, and `config_changed()`
(ledger/sql/config_changed.pg.sql), which every app's history tables call to write
`config.changed`."""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from config.history import baseline
from config.sqlfiles import postgres_function
from ledger.sql import FOLDER


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0007_balance_check_by_key"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        postgres_function(FOLDER, "config_changed.pg", "config_changed(text, text, jsonb)"),
        migrations.CreateModel(
            name="AchievementEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                ("id", models.BigIntegerField()),
                ("code", models.CharField(max_length=64)),
                ("name", models.CharField(max_length=100)),
                ("description", models.TextField(blank=True)),
                ("category", models.CharField(blank=True, max_length=50)),
                ("reward_amount", models.BigIntegerField(default=0)),
                (
                    "rule",
                    models.CharField(
                        choices=[
                            ("balance", "Balance reaches the threshold"),
                            ("streak", "Daily streak reaches the threshold"),
                            ("granted", "Granted by another action"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "threshold",
                    models.BigIntegerField(
                        blank=True,
                        help_text="Balance (in the reward currency) or streak days.",
                        null=True,
                    ),
                ),
                ("is_active", models.BooleanField(default=True)),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="CurrencyEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                ("id", models.BigIntegerField()),
                ("code", models.CharField(max_length=32)),
                ("name", models.CharField(max_length=100)),
                (
                    "signup_bonus",
                    models.BigIntegerField(default=0, help_text="Paid to every new member."),
                ),
                (
                    "referral_bonus",
                    models.BigIntegerField(
                        default=0,
                        help_text="Paid to the referrer when a referred member registers.",
                    ),
                ),
                (
                    "opens_on_signup",
                    models.BooleanField(
                        default=True, help_text="Registration opens a wallet in this currency."
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="achievement",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "ledger_achievementevent" ("category", "code", "description", "id", "is_active", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reward_amount", "reward_currency_id", "rule", "threshold") VALUES (NEW."category", NEW."code", NEW."description", NEW."id", NEW."is_active", NEW."name", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."reward_amount", NEW."reward_currency_id", NEW."rule", NEW."threshold"); RETURN NULL;',
                    hash="719f70834af0b683ef2f03769f8b9c6ce888d2e8",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_26990",
                    table="ledger_achievement",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="achievement",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "ledger_achievementevent" ("category", "code", "description", "id", "is_active", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reward_amount", "reward_currency_id", "rule", "threshold") VALUES (NEW."category", NEW."code", NEW."description", NEW."id", NEW."is_active", NEW."name", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."reward_amount", NEW."reward_currency_id", NEW."rule", NEW."threshold"); RETURN NULL;',
                    hash="4c3961a1c451971c6ad33c46592b31bfbb4b90d6",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_87fb2",
                    table="ledger_achievement",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="achievement",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "ledger_achievementevent" ("category", "code", "description", "id", "is_active", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "reward_amount", "reward_currency_id", "rule", "threshold") VALUES (OLD."category", OLD."code", OLD."description", OLD."id", OLD."is_active", OLD."name", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."reward_amount", OLD."reward_currency_id", OLD."rule", OLD."threshold"); RETURN NULL;',
                    hash="310cf6a3feac58fa5834579064ba175bf59d4bfe",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_e689c",
                    table="ledger_achievement",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="currency",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "ledger_currencyevent" ("code", "id", "name", "opens_on_signup", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "referral_bonus", "signup_bonus") VALUES (NEW."code", NEW."id", NEW."name", NEW."opens_on_signup", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."referral_bonus", NEW."signup_bonus"); RETURN NULL;',
                    hash="c9904ad7351fb14fd9c85213c1c1b42574aff84f",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_3f448",
                    table="ledger_currency",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="currency",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (OLD."code" IS DISTINCT FROM (NEW."code") OR OLD."id" IS DISTINCT FROM (NEW."id") OR OLD."name" IS DISTINCT FROM (NEW."name") OR OLD."opens_on_signup" IS DISTINCT FROM (NEW."opens_on_signup") OR OLD."referral_bonus" IS DISTINCT FROM (NEW."referral_bonus") OR OLD."signup_bonus" IS DISTINCT FROM (NEW."signup_bonus"))',
                    func='INSERT INTO "ledger_currencyevent" ("code", "id", "name", "opens_on_signup", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "referral_bonus", "signup_bonus") VALUES (NEW."code", NEW."id", NEW."name", NEW."opens_on_signup", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."referral_bonus", NEW."signup_bonus"); RETURN NULL;',
                    hash="e1d0e2c8a96d42d7d841ac72b51c35b442e847b9",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_6d426",
                    table="ledger_currency",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="currency",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "ledger_currencyevent" ("code", "id", "name", "opens_on_signup", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "referral_bonus", "signup_bonus") VALUES (OLD."code", OLD."id", OLD."name", OLD."opens_on_signup", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."referral_bonus", OLD."signup_bonus"); RETURN NULL;',
                    hash="079270ade0c448a97bdc27e3b86d6073397915ba",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_1e254",
                    table="ledger_currency",
                    when="AFTER",
                ),
            ),
        ),
        migrations.AddField(
            model_name="achievementevent",
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
            model_name="achievementevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="versions",
                to="ledger.achievement",
            ),
        ),
        migrations.AddField(
            model_name="achievementevent",
            name="reward_currency",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="ledger.currency",
            ),
        ),
        migrations.AddField(
            model_name="currencyevent",
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
            model_name="currencyevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="versions",
                to="ledger.currency",
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="achievementevent",
            trigger=pgtrigger.compiler.Trigger(
                name="config_changed",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM config_changed(TG_TABLE_NAME::text, 'ledger.achievement', to_jsonb(NEW)); RETURN NULL;",
                    hash="a385fa4d82098641c1f76bdd68a46df1622aeb4c",
                    operation="INSERT",
                    pgid="pgtrigger_config_changed_e3ca4",
                    table="ledger_achievementevent",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="achievementevent",
            trigger=pgtrigger.compiler.Trigger(
                name="history_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'history is append-only: % of version % refused', TG_OP, OLD.pgh_id USING ERRCODE = 'integrity_constraint_violation';",
                    hash="a4e9f808cef6cf449e53e94b80e7231472c86fe4",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_history_append_only_ec69a",
                    table="ledger_achievementevent",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="currencyevent",
            trigger=pgtrigger.compiler.Trigger(
                name="config_changed",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM config_changed(TG_TABLE_NAME::text, 'ledger.currency', to_jsonb(NEW)); RETURN NULL;",
                    hash="32d10c12488f54ff2951869005b6a5e944a4c274",
                    operation="INSERT",
                    pgid="pgtrigger_config_changed_067a6",
                    table="ledger_currencyevent",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="currencyevent",
            trigger=pgtrigger.compiler.Trigger(
                name="history_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'history is append-only: % of version % refused', TG_OP, OLD.pgh_id USING ERRCODE = 'integrity_constraint_violation';",
                    hash="ff602f0be3593e94c5f22b5579757e4b2da5c97a",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_history_append_only_994b1",
                    table="ledger_currencyevent",
                    when="BEFORE",
                ),
            ),
        ),
        baseline("ledger", "Currency"),
        baseline("ledger", "Achievement"),
    ]

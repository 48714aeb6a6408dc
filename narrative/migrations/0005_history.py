"""History of stories, chapters and choices (config/history.py), with their first versions."""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from config.history import baseline


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0008_history"),
        ("narrative", "0004_permissions"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChapterEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                ("id", models.BigIntegerField()),
                (
                    "number",
                    models.PositiveIntegerField(help_text="Chapter 1 is where the story starts."),
                ),
                ("title", models.CharField(max_length=150)),
                ("content", models.TextField(blank=True)),
                (
                    "vip_only",
                    models.BooleanField(default=False, help_text="Only VIP (premium) members."),
                ),
                (
                    "unlock_rule",
                    models.CharField(
                        choices=[
                            ("previous", "Previous chapter completed"),
                            ("min_balance", "A minimum balance"),
                            ("subscription", "A premium subscription"),
                        ],
                        default="previous",
                        max_length=16,
                    ),
                ),
                (
                    "unlock_amount",
                    models.BigIntegerField(
                        blank=True,
                        help_text="For a minimum balance: at least this much.",
                        null=True,
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="ChoiceEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                ("id", models.BigIntegerField()),
                ("position", models.PositiveSmallIntegerField(default=1, help_text="Order shown.")),
                ("text", models.CharField(max_length=255)),
                (
                    "ending",
                    models.CharField(
                        blank=True,
                        help_text="The ending's title, if the choice ends the story.",
                        max_length=150,
                    ),
                ),
                (
                    "reward",
                    models.BigIntegerField(
                        default=0, help_text="Paid once, in the story's currency."
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="StoryEvent",
            fields=[
                ("pgh_id", models.AutoField(primary_key=True, serialize=False)),
                ("pgh_created_at", models.DateTimeField(auto_now_add=True)),
                ("pgh_label", models.TextField(help_text="The event label.")),
                ("id", models.BigIntegerField()),
                ("title", models.CharField(max_length=150)),
                ("slug", models.SlugField(db_index=False, max_length=80)),
                ("description", models.TextField(blank=True)),
                (
                    "published",
                    models.BooleanField(
                        default=False,
                        help_text="Members can start and play only published stories.",
                    ),
                ),
            ],
            options={
                "abstract": False,
            },
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="chapter",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "narrative_chapterevent" ("content", "id", "number", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "story_id", "title", "unlock_amount", "unlock_currency_id", "unlock_rule", "vip_only") VALUES (NEW."content", NEW."id", NEW."number", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."story_id", NEW."title", NEW."unlock_amount", NEW."unlock_currency_id", NEW."unlock_rule", NEW."vip_only"); RETURN NULL;',
                    hash="7eb389e32d1543e2315fe5881aa8edd1af166fb6",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_7097b",
                    table="narrative_chapter",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="chapter",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "narrative_chapterevent" ("content", "id", "number", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "story_id", "title", "unlock_amount", "unlock_currency_id", "unlock_rule", "vip_only") VALUES (NEW."content", NEW."id", NEW."number", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."story_id", NEW."title", NEW."unlock_amount", NEW."unlock_currency_id", NEW."unlock_rule", NEW."vip_only"); RETURN NULL;',
                    hash="06b069d158a0bb6c6934f0981e67af7f994e3c46",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_49924",
                    table="narrative_chapter",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="chapter",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "narrative_chapterevent" ("content", "id", "number", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "story_id", "title", "unlock_amount", "unlock_currency_id", "unlock_rule", "vip_only") VALUES (OLD."content", OLD."id", OLD."number", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."story_id", OLD."title", OLD."unlock_amount", OLD."unlock_currency_id", OLD."unlock_rule", OLD."vip_only"); RETURN NULL;',
                    hash="eb39f618f0824d6d7d6e73dae83175fcad5327ce",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_80926",
                    table="narrative_chapter",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="choice",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "narrative_choiceevent" ("chapter_id", "ending", "id", "next_chapter_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "position", "reward", "text") VALUES (NEW."chapter_id", NEW."ending", NEW."id", NEW."next_chapter_id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."position", NEW."reward", NEW."text"); RETURN NULL;',
                    hash="e3edbbeb5db68308fb31834773e8cffbe7aef2e6",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_cf520",
                    table="narrative_choice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="choice",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)",
                    func='INSERT INTO "narrative_choiceevent" ("chapter_id", "ending", "id", "next_chapter_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "position", "reward", "text") VALUES (NEW."chapter_id", NEW."ending", NEW."id", NEW."next_chapter_id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."position", NEW."reward", NEW."text"); RETURN NULL;',
                    hash="72a3b3ea3f551ef47e19093d04b0f8e4823758c6",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_8e140",
                    table="narrative_choice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="choice",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "narrative_choiceevent" ("chapter_id", "ending", "id", "next_chapter_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "position", "reward", "text") VALUES (OLD."chapter_id", OLD."ending", OLD."id", OLD."next_chapter_id", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."position", OLD."reward", OLD."text"); RETURN NULL;',
                    hash="0269db3508e62b0f9855582e51a71d4b7c0c9681",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_86c57",
                    table="narrative_choice",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="story",
            trigger=pgtrigger.compiler.Trigger(
                name="insert_insert",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "narrative_storyevent" ("currency_id", "description", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "published", "slug", "title") VALUES (NEW."currency_id", NEW."description", NEW."id", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."published", NEW."slug", NEW."title"); RETURN NULL;',
                    hash="ec3b857d918fcdf076b6825384b7d72d24a373b9",
                    operation="INSERT",
                    pgid="pgtrigger_insert_insert_986e6",
                    table="narrative_story",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="story",
            trigger=pgtrigger.compiler.Trigger(
                name="update_update",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (OLD."currency_id" IS DISTINCT FROM (NEW."currency_id") OR OLD."description" IS DISTINCT FROM (NEW."description") OR OLD."id" IS DISTINCT FROM (NEW."id") OR OLD."published" IS DISTINCT FROM (NEW."published") OR OLD."slug" IS DISTINCT FROM (NEW."slug") OR OLD."title" IS DISTINCT FROM (NEW."title"))',
                    func='INSERT INTO "narrative_storyevent" ("currency_id", "description", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "published", "slug", "title") VALUES (NEW."currency_id", NEW."description", NEW."id", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."published", NEW."slug", NEW."title"); RETURN NULL;',
                    hash="de16e5e8a9b11e4593c3b2b9c66fd9660b139f21",
                    operation="UPDATE",
                    pgid="pgtrigger_update_update_15d56",
                    table="narrative_story",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="story",
            trigger=pgtrigger.compiler.Trigger(
                name="delete_delete",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func='INSERT INTO "narrative_storyevent" ("currency_id", "description", "id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "published", "slug", "title") VALUES (OLD."currency_id", OLD."description", OLD."id", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."published", OLD."slug", OLD."title"); RETURN NULL;',
                    hash="62c6ec0db9ec71328c1477ca16e958887d82c1bf",
                    operation="DELETE",
                    pgid="pgtrigger_delete_delete_1865e",
                    table="narrative_story",
                    when="AFTER",
                ),
            ),
        ),
        migrations.AddField(
            model_name="chapterevent",
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
            model_name="chapterevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="versions",
                to="narrative.chapter",
            ),
        ),
        migrations.AddField(
            model_name="chapterevent",
            name="story",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="narrative.story",
            ),
        ),
        migrations.AddField(
            model_name="chapterevent",
            name="unlock_currency",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="For a minimum balance: in this currency.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="ledger.currency",
            ),
        ),
        migrations.AddField(
            model_name="choiceevent",
            name="chapter",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="narrative.chapter",
            ),
        ),
        migrations.AddField(
            model_name="choiceevent",
            name="next_chapter",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="Where the choice leads; empty if it ends the story.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="narrative.chapter",
            ),
        ),
        migrations.AddField(
            model_name="choiceevent",
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
            model_name="choiceevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="versions",
                to="narrative.choice",
            ),
        ),
        migrations.AddField(
            model_name="storyevent",
            name="currency",
            field=models.ForeignKey(
                db_constraint=False,
                help_text="Choice rewards are paid in this currency.",
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                related_query_name="+",
                to="ledger.currency",
            ),
        ),
        migrations.AddField(
            model_name="storyevent",
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
            model_name="storyevent",
            name="pgh_obj",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="versions",
                to="narrative.story",
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="chapterevent",
            trigger=pgtrigger.compiler.Trigger(
                name="config_changed",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM config_changed(TG_TABLE_NAME::text, 'narrative.chapter', to_jsonb(NEW)); RETURN NULL;",
                    hash="f4456d32c4e107d49f91eaaa30cbfe821a32ca31",
                    operation="INSERT",
                    pgid="pgtrigger_config_changed_2de7c",
                    table="narrative_chapterevent",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="chapterevent",
            trigger=pgtrigger.compiler.Trigger(
                name="history_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'history is append-only: % of version % refused', TG_OP, OLD.pgh_id USING ERRCODE = 'integrity_constraint_violation';",
                    hash="7757fd464f6e4cafd70e17dbf18cf184432274a5",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_history_append_only_ec0f9",
                    table="narrative_chapterevent",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="choiceevent",
            trigger=pgtrigger.compiler.Trigger(
                name="config_changed",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM config_changed(TG_TABLE_NAME::text, 'narrative.choice', to_jsonb(NEW)); RETURN NULL;",
                    hash="565bbb48cd7d794cc81763dbce3a17b814759326",
                    operation="INSERT",
                    pgid="pgtrigger_config_changed_f2ae1",
                    table="narrative_choiceevent",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="choiceevent",
            trigger=pgtrigger.compiler.Trigger(
                name="history_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'history is append-only: % of version % refused', TG_OP, OLD.pgh_id USING ERRCODE = 'integrity_constraint_violation';",
                    hash="ddd160bb65b20cbba172d943e9202a9fe46b1a53",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_history_append_only_af2ae",
                    table="narrative_choiceevent",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="storyevent",
            trigger=pgtrigger.compiler.Trigger(
                name="config_changed",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="PERFORM config_changed(TG_TABLE_NAME::text, 'narrative.story', to_jsonb(NEW)); RETURN NULL;",
                    hash="32ce04ca50fde13fd4ca32218127c0929324f1ea",
                    operation="INSERT",
                    pgid="pgtrigger_config_changed_2bc34",
                    table="narrative_storyevent",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="storyevent",
            trigger=pgtrigger.compiler.Trigger(
                name="history_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'history is append-only: % of version % refused', TG_OP, OLD.pgh_id USING ERRCODE = 'integrity_constraint_violation';",
                    hash="06a578a997ba2edd5cdba610aec128b4e2a24cb8",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_history_append_only_9ff2b",
                    table="narrative_storyevent",
                    when="BEFORE",
                ),
            ),
        ),
        baseline("narrative", "Story"),
        baseline("narrative", "Chapter"),
        baseline("narrative", "Choice"),
    ]

"""Subscriptions, profiles and identities: the rules, now that the rows keep them (0008)."""

import django.db.models.lookups
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

import accounts.models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_existing_rows"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="member",
            name="is_premium",
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(fields=["last_active_at"], name="accounts_member_last_active_at"),
        ),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(
                condition=models.Q(("status", "active")),
                fields=["expires_at"],
                name="accounts_subscription_expiry",
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="subscription",
            trigger=pgtrigger.compiler.Trigger(
                name="accounts_subscription_legal_transition",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n                IF TG_OP = 'INSERT' THEN\n                    IF NEW.status <> 'active' THEN\n                        RAISE EXCEPTION 'a subscription starts active, not %', NEW.status USING ERRCODE = 'integrity_constraint_violation';\n                    END IF;\n                    RETURN NEW;\n                END IF;\n                IF OLD.status <> 'active' THEN\n                    RAISE EXCEPTION 'subscription % has ended (%): it is history', OLD.id, OLD.status USING ERRCODE = 'integrity_constraint_violation';\n                END IF;\n                IF (NEW.member_id, NEW.tier, NEW.starts_at, NEW.created_at)\n                   IS DISTINCT FROM (OLD.member_id, OLD.tier, OLD.starts_at, OLD.created_at) THEN\n                    RAISE EXCEPTION 'subscription %: member, tier and start are fixed', OLD.id USING ERRCODE = 'integrity_constraint_violation';\n                END IF;\n                IF NEW.status IS DISTINCT FROM OLD.status\n                   AND NOT ((OLD.status = 'active' AND NEW.status IN ('cancelled', 'expired', 'replaced'))) THEN\n                    RAISE EXCEPTION 'subscription %: % -> % is not a legal transition', OLD.id, OLD.status, NEW.status USING ERRCODE = 'integrity_constraint_violation';\n                END IF;\n                IF NEW.status = 'expired'\n                   AND NEW.expires_at > statement_timestamp() + interval '5 seconds' THEN\n                    RAISE EXCEPTION 'subscription % cannot expire before %', OLD.id, NEW.expires_at USING ERRCODE = 'integrity_constraint_violation';\n                END IF;\n                IF NEW.status = 'active' AND OLD.expires_at IS NOT NULL\n                   AND (NEW.expires_at IS NULL OR NEW.expires_at < OLD.expires_at) THEN\n                    RAISE EXCEPTION 'subscription %: a renewal only moves the expiry later', OLD.id USING ERRCODE = 'integrity_constraint_violation';\n                END IF;\n                RETURN NEW;\n                ",
                    hash="36f373aab473f52a8b1ddc3897e31f9d73213f19",
                    operation="INSERT OR UPDATE",
                    pgid="pgtrigger_accounts_subscription_legal_transition_33787",
                    table="accounts_subscription",
                    when="BEFORE",
                ),
            ),
        ),
        migrations.AddConstraint(
            model_name="identity",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        (
                            "first_name__regex",
                            "[\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890-\\u0891\\u08e2\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb\\U000110bd\\U000110cd\\U00013430-\\U0001343f\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a\\U000e0001\\U000e0020-\\U000e007f]",
                        ),
                        _negated=True,
                    ),
                    models.Q(
                        (
                            "last_name__regex",
                            "[\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890-\\u0891\\u08e2\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb\\U000110bd\\U000110cd\\U00013430-\\U0001343f\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a\\U000e0001\\U000e0020-\\U000e007f]",
                        ),
                        _negated=True,
                    ),
                ),
                name="accounts_identity_names_printable",
            ),
        ),
        migrations.AddConstraint(
            model_name="identity",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("platform__in", ("telegram", "discord")), _negated=True),
                    ("external_id__regex", "^[1-9][0-9]{0,19}\\Z"),
                    _connector="OR",
                ),
                name="accounts_identity_numeric_external_id",
            ),
        ),
        migrations.AddConstraint(
            model_name="profile",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    django.db.models.lookups.Exact(
                        accounts.models.JsonType("preferences"), "object"
                    ),
                    django.db.models.lookups.Exact(
                        accounts.models.JsonType("personality"), "object"
                    ),
                ),
                name="accounts_profile_json_objects",
            ),
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["active", "cancelled", "expired", "replaced"])),
                name="accounts_subscription_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("ended_at__isnull", True), ("status", "active")),
                    models.Q(
                        models.Q(("status", "active"), _negated=True), ("ended_at__isnull", False)
                    ),
                    _connector="OR",
                ),
                name="accounts_subscription_ended_iff_not_active",
            ),
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "expired"), _negated=True),
                    models.Q(("ended_at", models.F("expires_at")), ("expires_at__isnull", False)),
                    _connector="OR",
                ),
                name="accounts_subscription_expired_at_expiry",
            ),
        ),
    ]

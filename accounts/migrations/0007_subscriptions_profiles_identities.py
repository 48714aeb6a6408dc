"""Subscriptions, profiles and identities: the new columns (the rows are fixed in 0008,
the rules added in 0009: PostgreSQL will not alter a table with deferred checks of rows
written in the same transaction pending)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_display_names_printable"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="subscription",
            options={
                "permissions": [
                    ("manage_subscription", "Can start, renew, change and cancel subscriptions")
                ]
            },
        ),
        migrations.RemoveConstraint(
            model_name="subscription",
            name="accounts_subscription_status_valid",
        ),
        migrations.AddField(
            model_name="identity",
            name="first_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="identity",
            name="is_bot",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="identity",
            name="last_name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="profile",
            name="personality",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="subscription",
            name="ended_at",
            field=models.DateTimeField(
                blank=True, editable=False, help_text="When it stopped being active.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="status",
            field=models.CharField(
                choices=[
                    ("active", "Active"),
                    ("cancelled", "Cancelled"),
                    ("expired", "Expired"),
                    ("replaced", "Replaced (tier changed)"),
                ],
                default="active",
                max_length=16,
            ),
        ),
    ]

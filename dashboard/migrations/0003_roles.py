"""The staff roles (Viewer, Moderator, Treasurer, Organiser, Owner) as Django groups
with their permissions (dashboard.roles holds the table; every later `migrate` keeps the
groups in line with it through post_migrate)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from dashboard.roles import create_all_permissions, sync_roles

    using = schema_editor.connection.alias
    create_all_permissions(apps, using=using)
    # Not strict: a later version of the table may name permissions of models that later
    # migrations create; the post_migrate sync gives them once they exist.
    sync_roles(apps, using=using, strict=False)


class Migration(migrations.Migration):
    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sessions", "0001_initial"),
        ("accounts", "0005_permissions"),
        ("events", "0002_fewer_indexes"),
        ("ledger", "0006_permissions"),
        ("tournaments", "0003_permissions"),
        ("narrative", "0004_permissions"),
        ("integrity", "0002_permissions"),
        ("dashboard", "0002_permissions"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]

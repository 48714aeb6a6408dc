"""Viewer and up may open the analytics pages: analytics.view_analytics goes to every role
group that opens the dashboard (dashboard.roles lists it with the dashboard's own
permission; every later `migrate` keeps the groups in line with that table)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    using = schema_editor.connection.alias
    config = apps.get_app_config("analytics")
    config.models_module = True  # a migration's app config is a stub without it
    try:
        create_permissions(config, verbosity=0, using=using, apps=apps)
    finally:
        del config.models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.using(using).get(
        content_type__app_label="analytics", codename="view_analytics"
    )
    for group in Group.objects.using(using).filter(
        permissions__content_type__app_label="dashboard",
        permissions__codename="view_dashboard",
    ):
        group.permissions.add(view)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("dashboard", "0003_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

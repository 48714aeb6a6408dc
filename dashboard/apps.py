from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard and overlays"

    def ready(self) -> None:
        from dashboard.cache import invalidate
        from dashboard.ranks import note
        from dashboard.rolling import note as note_rolling
        from events.log import register_handler

        # Before the broadcast: a screen that re-renders on the event reads fresh values.
        # The boards first: `invalidate`'s batch marks the batch relayed for this
        # process's read-your-writes, which the boards must then already show.
        register_handler(note)  # the relay moves the boards (dashboard.ranks)
        register_handler(note_rolling)  # and the last 24 hours' and 7 days' (.rolling)
        register_handler(invalidate)
        post_migrate.connect(_sync_roles, dispatch_uid="dashboard.sync_roles")


def _sync_roles(sender, using="default", **kwargs) -> None:
    """After every `migrate` (and a test database flush), once the last app has had its
    permissions made: the role groups hold exactly what dashboard.roles says."""
    if sender.label != "dashboard":
        return
    from dashboard.roles import create_all_permissions, sync_roles

    create_all_permissions(using=using)
    sync_roles(using=using)

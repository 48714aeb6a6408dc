from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard and overlays"

    def ready(self) -> None:
        from dashboard.cache import invalidate
        from events.actions import register_handler

        # Before the broadcast: a screen that re-renders on the event reads fresh values.
        register_handler(invalidate)

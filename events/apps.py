from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Event log"

    def ready(self) -> None:
        # Each app's payloads.py registers its event kinds' schemas (events.payloads);
        # the lowest layer names no app.
        autodiscover_modules("payloads")

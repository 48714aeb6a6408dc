from __future__ import annotations

from django.apps import AppConfig


class NarrativeConfig(AppConfig):
    name = "narrative"
    verbose_name = "Narrative"

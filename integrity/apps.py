from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class IntegrityConfig(AppConfig):
    name = "integrity"
    verbose_name = "Integrity"

    def ready(self) -> None:
        # Each app's integrity.py registers its checks, as admin.py registers ModelAdmins.
        autodiscover_modules("integrity")

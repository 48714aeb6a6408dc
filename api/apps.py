from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Bot API"

    def ready(self):
        from accounts.signals import member_erased
        from api.actions.erasure import scrub_member_copies

        # An erasure reaches the webhook bodies and idempotent answers in its transaction.
        member_erased.connect(scrub_member_copies, dispatch_uid="api.erasure")

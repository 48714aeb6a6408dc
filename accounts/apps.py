from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Staff and members"

    def ready(self):
        from accounts import logins

        logins.connect()  # a login lock is recorded as a `staff.login_locked` event

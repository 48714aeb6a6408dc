from __future__ import annotations

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from accounts.signals import member_registered
        from ledger.receivers import open_wallets_on_registration

        member_registered.connect(open_wallets_on_registration, dispatch_uid="ledger.signup")

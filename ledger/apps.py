from __future__ import annotations

import pgtrigger
from django.apps import AppConfig
from django.db.models.signals import post_migrate

DEFAULT_CURRENCIES = {
    "points": {"name": "Points", "signup_bonus": 100, "referral_bonus": 50},
    "credits": {"name": "Credits"},
}


def create_default_currencies(app_config, using="default", apps=None, **kwargs) -> None:
    if apps is None:
        from django.apps import apps
    try:
        Currency = apps.get_model("ledger", "Currency")
    except LookupError:  # migrated back below ledger.0001
        return
    # Seeding is no one's change: the history keeps the first version, but no
    # `config.changed` event is written (a flushed test database starts with an empty log).
    from ledger.history import seeding

    with pgtrigger.ignore("ledger.CurrencyEvent:config_changed"), seeding():
        for code, defaults in DEFAULT_CURRENCIES.items():
            Currency.objects.using(using).get_or_create(code=code, defaults=defaults)


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from accounts.signals import member_registered
        from ledger.receivers import open_wallets_on_registration

        member_registered.connect(open_wallets_on_registration, dispatch_uid="ledger.signup")
        # Like contenttypes: the default currencies exist after every migrate (and after
        # a test flush, which emits post_migrate too).
        post_migrate.connect(create_default_currencies, sender=self)
        # SQLite has no history triggers: configuration changes made through the ORM
        # publish `config.changed` from signals there (ledger/history.py).
        from ledger.history import connect_signal_fallback

        connect_signal_fallback()

from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: metrics (`/metrics`), alerts, backups and restore drills."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from ops.timing import time_queries

        # Every connection of every process times its statements (ops.timing).
        connection_created.connect(time_queries, dispatch_uid="ops.time_queries")

        from django.conf import settings

        if settings.PGBACKREST_CONFIG:
            from config.health import CHECKS
            from ops.physical import archiving

            CHECKS["archiving"] = archiving  # /healthz: WAL archiving for pgBackRest

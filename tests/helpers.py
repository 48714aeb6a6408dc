"""Small test helpers shared across apps."""

from __future__ import annotations

from django.apps import apps


def table_contents(*app_labels: str) -> dict[str, list[dict]]:
    """Every row of these apps' tables, in key order: compare before and after an action
    to prove it wrote nothing (no insert, update or delete). For test-sized data."""
    labels = app_labels or ("accounts", "events")
    return {
        model._meta.db_table: list(model._base_manager.order_by("pk").values())
        for label in labels
        for model in apps.get_app_config(label).get_models()
    }

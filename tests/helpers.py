"""Small test helpers shared across apps."""

from __future__ import annotations

from django.apps import apps


def row_counts(*app_labels: str) -> dict[str, int]:
    """Rows per table of these apps: compare before/after to prove nothing was written."""
    labels = app_labels or ("accounts", "events")
    return {
        model._meta.db_table: model._base_manager.count()
        for label in labels
        for model in apps.get_app_config(label).get_models()
    }

"""`env_seconds`: a list of pauses from the environment (WEBHOOK_RETRY_SCHEDULE). Its own
module because config/settings.py is at the 600-line limit (tests/test_sizes.py)."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

MAX_PAUSE = 7 * 86_400


def env_seconds(name: str, default: str) -> list[int]:
    """`name` as comma-separated whole seconds (each 1 to a week), else `default`."""
    raw = [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]
    if not raw or not all(item.isdigit() and 0 < int(item) <= MAX_PAUSE for item in raw):
        raise ImproperlyConfigured(f"{name}: comma-separated seconds, each 1 to {MAX_PAUSE}")
    return [int(item) for item in raw]

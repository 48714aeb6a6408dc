"""`env_seconds`: a list of pauses from the environment (WEBHOOK_RETRY_SCHEDULE); `env_age`:
an age (`30d`, `4w`, `12h`: WEBHOOK_DELIVERY_RETENTION) in the grammar of every command's
`--older-than` (`parse_age`, the one definition)."""

from __future__ import annotations

import os
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

MAX_PAUSE = 7 * 86_400


def env_seconds(name: str, default: str) -> list[int]:
    """`name` as comma-separated whole seconds (each 1 to a week), else `default`."""
    raw = [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]
    if not raw or not all(item.isdigit() and 0 < int(item) <= MAX_PAUSE for item in raw):
        raise ImproperlyConfigured(f"{name}: comma-separated seconds, each 1 to {MAX_PAUSE}")
    return [int(item) for item in raw]


_DAYS = {"d": 1, "w": 7}
# Past this, "now minus the age" would leave the calendar (OverflowError, a traceback).
MAX_AGE = timedelta(days=36_500)


def parse_age(text: str) -> timedelta:
    """'365d', '52w' or '12h' as a timedelta (ValueError with a readable message)."""
    text = (text or "").strip().lower()
    number, unit = text[:-1], text[-1:]
    if not (number.isascii() and number.isdigit() and len(number) <= 6) or unit not in "dwh":
        raise ValueError(
            f"an age is a number of days, weeks or hours: 365d, 52w, 12h (not {text!r})"
        )
    age = timedelta(hours=int(number)) if unit == "h" else timedelta(days=int(number) * _DAYS[unit])
    if age > MAX_AGE:
        raise ValueError(f"an age is at most 100 years ({MAX_AGE.days}d), not {text!r}")
    return age


def env_age(name: str, default: str) -> timedelta:
    """`name` as an age of at least an hour (`30d`, `4w`, `12h`), else `default`."""
    raw = os.environ.get(name, "").strip() or default
    try:
        age = parse_age(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    if age < timedelta(hours=1):
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least 1h")
    return age

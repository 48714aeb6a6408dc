from __future__ import annotations

from config.errors import Refusal


class AnalyticsError(Refusal):
    """The base of every analytics refusal."""


class BadRange(AnalyticsError):
    """A date range that cannot be rolled up (end before start, too long)."""

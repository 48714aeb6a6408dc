"""Errors of the dashboard app (overlay tokens, live streams)."""

from __future__ import annotations

from config.errors import Refusal


class DashboardError(Refusal):
    """Base class for the dashboard's errors."""


class InvalidToken(DashboardError):
    """Not an overlay token this deployment signed, or one that names no token."""


class TokenRevoked(DashboardError):
    """The overlay token has been revoked."""


class InvalidOverlayScope(DashboardError):
    """The scope is not one an overlay can show."""


class StreamLimitReached(DashboardError):
    """The token has STREAM_MAX_PER_TOKEN stream connections open already."""

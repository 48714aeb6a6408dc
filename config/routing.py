"""Websocket routes, each with the check its credential needs.

`/ws/dashboard/` reads the staff session (AuthMiddlewareStack), so a page of another
origin must not open it with the visitor's cookie: `DashboardOriginValidator` accepts the
dashboard's own origin (scheme, host and port) and DASHBOARD_ORIGINS only, and refuses a
handshake without Origin. `/ws/stream/` is authenticated by its token alone: any Origin,
or none (bots), is accepted, and it goes without the session middleware, which wraps
every `send` of a connection while a stream connection sends every event (measured by
bench/live.py: about a tenth of daphne's CPU per message)."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from django.urls import path

from dashboard.consumers import DashboardConsumer, StreamConsumer
from dashboard.origins import DashboardOriginValidator

websocket_urlpatterns: list = [
    path("ws/stream/", StreamConsumer.as_asgi()),
    path(
        "ws/dashboard/",
        DashboardOriginValidator(AuthMiddlewareStack(DashboardConsumer.as_asgi())),
    ),
]

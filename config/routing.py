"""Websocket routes (config.asgi wraps them in the Origin check).

`/ws/dashboard/` reads the staff session (AuthMiddlewareStack). `/ws/stream/` is
authenticated by its token alone and goes without it: the session middleware wraps every
`send` of a connection, and a stream connection sends every event (measured by
bench/live.py: about a tenth of daphne's CPU per message)."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from django.urls import path

from dashboard.consumers import DashboardConsumer, StreamConsumer

websocket_urlpatterns: list = [
    path("ws/stream/", StreamConsumer.as_asgi()),
    path("ws/dashboard/", AuthMiddlewareStack(DashboardConsumer.as_asgi())),
]

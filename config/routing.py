"""Websocket routes (config.asgi wraps them in the Origin check and session auth)."""

from __future__ import annotations

from django.urls import path

from dashboard.consumers import DashboardConsumer, StreamConsumer

websocket_urlpatterns: list = [
    path("ws/stream/", StreamConsumer.as_asgi()),
    path("ws/dashboard/", DashboardConsumer.as_asgi()),
]

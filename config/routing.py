"""Websocket routes. The live issue adds /ws/stream/ and /ws/dashboard/ here."""

from __future__ import annotations

websocket_urlpatterns: list = []

"""ASGI entry point: HTTP through Django, websockets through Channels (served by daphne)."""

from __future__ import annotations

import asyncio
import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Set up Django (apps, settings) before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from api.delivery import EmbeddedWebhooks  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from dashboard.hub import EmbeddedRelay  # noqa: E402

_EMBEDDED = EmbeddedRelay.wanted()
_WEBHOOKS_HERE = EmbeddedWebhooks.wanted()


async def http(scope, receive, send):
    """Django, with the embedded relay started by the first request on embedded defaults:
    from then on this process's local caches hear about other processes' writes. Without
    a Celery broker the same request starts the in-process webhook sender."""
    if _EMBEDDED and not EmbeddedRelay.running():
        await asyncio.to_thread(EmbeddedRelay.ensure)
    if _WEBHOOKS_HERE and not EmbeddedWebhooks.running():
        EmbeddedWebhooks.ensure()
    await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http,
        # Each route checks what its credential needs (config.routing): the dashboard's
        # cookie needs the Origin to be its own; a stream's token needs none.
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

# A daphne process allocates for every message it fans out; with the default thresholds
# the collector's full passes over every connection's objects stalled delivery by up to
# a few hundred ms (bench/live.py: p99 223 ms at 1,000 clients, 90 ms without them).
# What startup made stays (freeze: never scanned again) and collections run less often;
# cycles are still collected.
gc.freeze()
gc.set_threshold(50_000, 20, 100)

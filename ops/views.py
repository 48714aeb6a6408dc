"""`/metrics`: Prometheus text format, for allowed addresses or a bearer token.

Allowed: the client's address (REMOTE_ADDR, the connecting peer; behind a proxy that is
the proxy, so use the token there) within METRICS_ALLOWED_ADDRESSES (addresses or
networks; loopback by default), or `Authorization: Bearer <METRICS_TOKEN>`. Anything
else is a 403 with no detail."""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from ops.collectors import ScrapeCollector
from ops.metrics import MULTIPROCESS


def allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def registry() -> CollectorRegistry:
    """This scrape's registry: every process's files summed (multiprocess mode) or this
    process's instruments, plus what is read now from the database and the broker."""
    scrape = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(scrape, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    else:
        scrape.register(_Default())
    scrape.register(ScrapeCollector())
    return scrape


class _Default:
    """The process's own registry (instruments, plus process and platform facts)."""

    def collect(self):
        return REGISTRY.collect()


@never_cache
@require_GET
def metrics(request):
    if not allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)

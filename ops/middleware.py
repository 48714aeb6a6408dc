"""Request latency and database time per view, for `/metrics`.

First in MIDDLEWARE, so the time covers every other middleware. The view label is the
URL's name (`dashboard:member`, `healthz`), or its route pattern when it has none, never
the raw path: paths carry ids and tokens, which would make a series per member (and
leak overlay tokens into the metrics). What resolves to no view is `<unresolved>`."""

from __future__ import annotations

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from ops.metrics import REQUEST_DB_SECONDS, REQUEST_SECONDS
from ops.timing import request_db

UNRESOLVED = "<unresolved>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def view_label(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNRESOLVED
    return match.view_name or match.route or UNRESOLVED


class MetricsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        started, total = time.perf_counter(), [0.0]
        token = request_db.set(total)
        try:
            response = self.get_response(request)
        finally:
            request_db.reset(token)
        self._observe(request, response, started, total[0])
        return response

    async def _acall(self, request):
        started, total = time.perf_counter(), [0.0]
        token = request_db.set(total)
        try:
            response = await self.get_response(request)
        finally:
            request_db.reset(token)
        self._observe(request, response, started, total[0])
        return response

    @staticmethod
    def _observe(request, response, started: float, db_seconds: float) -> None:
        view = view_label(request)
        method = request.method if request.method in METHODS else "other"
        REQUEST_SECONDS.labels(view, method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        REQUEST_DB_SECONDS.labels(view).observe(db_seconds)

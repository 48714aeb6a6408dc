"""Adds the rate limit headers (`api.ratelimit`) to every answer of an authenticated
Bot API request, whatever produced it (a handler, a stored idempotent answer, a problem)."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class RateLimitHeadersMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return _add_headers(request, self.get_response(request))

    async def __acall__(self, request):
        return _add_headers(request, await self.get_response(request))


def _add_headers(request, response):
    usage = getattr(request, "api_usage", None)
    if usage is not None:
        for name, value in usage.headers().items():
            if name not in response:
                response[name] = value
    return response

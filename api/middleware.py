"""The headers every Bot API answer carries, whatever produced it (a handler, a stored
idempotent answer, a problem):

- the rate limit's (`api.ratelimit`), on an authenticated request;
- `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`: a JSON answer
  loads nothing and is framed by nobody (OWASP's REST Security Cheat Sheet). It is a
  constant, so the API's WSGI chain (config.handlers) runs no django-csp, which built the
  pages' policy anew for every answer (~10% of an award's Python); under the full chain
  django-csp sees the header set and leaves it. The HTML docs page (/api/v1/docs) is a
  page and gets the pages' policy."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from csp.constants import HEADER as CSP_HEADER

from config.handlers import is_bot_api_call

API_CSP = "default-src 'none'; frame-ancestors 'none'"


class BotApiHeadersMiddleware:
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
    if CSP_HEADER not in response and is_bot_api_call(request.path_info):
        response[CSP_HEADER] = API_CSP
    return response

"""The headers every Bot API answer carries, whatever produced it (a handler, a stored
idempotent answer, a problem, a refusal by the middleware around them).

- `BotApiCspMiddleware`, right after django-csp in MIDDLEWARE:
  `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` on every answer
  to a Bot API call (config.handlers.is_bot_api_call): a JSON answer loads nothing and
  is framed by nobody (OWASP's REST Security Cheat Sheet). It is a constant, so the
  API's WSGI chain (config.handlers) runs no django-csp, which built the pages' policy
  anew for every answer (most of the 16% the API's chain saves); under the full chain django-csp
  finds the header set and leaves it. The HTML docs page (/api/v1/docs) is a page and
  gets the pages' policy. With DEBUG on, Django's technical 404 and 500 pages keep their
  inline styles (django-csp skips them too).
- `RateLimitHeadersMiddleware`: the rate limit's headers (`api.ratelimit`) on an
  authenticated request's answer."""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from csp.constants import HEADER as CSP_HEADER
from django.conf import settings

from config.handlers import is_bot_api_call

API_CSP = "default-src 'none'; frame-ancestors 'none'"


class _ResponseHeaders:
    """A middleware that adds headers to the answer: `add(request, response)`."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self.add(request, self.get_response(request))

    async def __acall__(self, request):
        return self.add(request, await self.get_response(request))

    def add(self, request, response):
        raise NotImplementedError


class BotApiCspMiddleware(_ResponseHeaders):
    def add(self, request, response):
        if (
            CSP_HEADER not in response
            and is_bot_api_call(request.path_info)
            and not (settings.DEBUG and response.status_code in (404, 500))
        ):
            response[CSP_HEADER] = API_CSP
        return response


class RateLimitHeadersMiddleware(_ResponseHeaders):
    def add(self, request, response):
        usage = getattr(request, "api_usage", None)
        if usage is not None:
            for name, value in usage.headers().items():
                if name not in response:
                    response[name] = value
        return response

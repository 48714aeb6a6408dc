"""One WSGI application, two middleware chains: the Bot API's calls skip what only pages use.

A bot's call (`/api/v1/...`, a bearer key, JSON) has no session, no cookie login, no
CSRF token, no flash messages, no htmx and no login form, yet the full chain
(settings.MIDDLEWARE) ran all of them, and django-csp built the pages' policy anew for
every answer: 16% of an award's CPU in the application
(docs/benchmarks/2026-12-07-api-chain.md).
`application` sends those calls to a handler whose chain is settings.BOT_API_MIDDLEWARE
(settings.MIDDLEWARE without PAGES_ONLY_MIDDLEWARE, in the same order), and everything
else, the API's HTML docs page included, to Django's own handler with the full chain.

Nothing the API relies on is skipped: metrics, the security headers and HTTPS redirect,
the odd-input refusal, CommonMiddleware, X-Frame-Options and the Bot API's own headers
(a constant CSP for JSON, its rate limit: api.middleware) run in both chains. CSRF
protects what a cookie authenticates; the API chain has no session and no cookie login,
so there is nothing for it to protect (tests/config/test_handlers.py). `manage.py check
--deploy` reads settings.MIDDLEWARE, which still holds every middleware; the pages keep
all of them.

WSGI only (uWSGI, gunicorn): under ASGI (daphne: /ws/ and the events long poll) every
request runs the full chain, as before."""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from config import private_apis

BOT_API_PREFIX = "/api/v1/"
# Served to people, as HTML: the full chain.
BOT_API_PAGES = ("/api/v1/docs",)


def is_bot_api_call(path_info: str) -> bool:
    return path_info.startswith(BOT_API_PREFIX) and not path_info.startswith(BOT_API_PAGES)


class BotApiChain:
    """A handler mixin: settings.BOT_API_MIDDLEWARE as the handler's chain, built as
    Django builds a synchronous one (`config.private_apis.load_sync_middleware`). Mixed
    into Django's WSGI handler here, and into its test client's handler by the API tests
    (tests/api/conftest.py), so they run the chain production runs."""

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ValueError("the Bot API's chain is for WSGI; ASGI runs the full chain")
        private_apis.load_sync_middleware(self, settings.BOT_API_MIDDLEWARE)


class BotApiHandler(BotApiChain, WSGIHandler):
    """Django's WSGI handler running the Bot API's chain."""


class PagesAndBotApi:
    """The WSGI application: `BotApiHandler` for the Bot API's calls, Django's handler
    (the full chain) for everything else."""

    def __init__(self) -> None:
        self.pages = WSGIHandler()
        self.bot_api = BotApiHandler()

    def __call__(self, environ, start_response):
        if is_bot_api_call(environ.get("PATH_INFO", "")):
            return self.bot_api(environ, start_response)
        return self.pages(environ, start_response)


class TransportScheme:
    """The request's scheme as its connection has it, for uWSGI (config.wsgi wraps the
    application in it there): `https` only if uWSGI terminated TLS itself (an
    `https-socket` sets HTTPS=on), else `http`. uWSGI's http-socket takes a request's
    `X-Forwarded-Proto: https` or `X-Forwarded-Ssl: on` as the scheme, from any client;
    whether a proxy's word counts is Django's to decide (DJANGO_BEHIND_TLS_PROXY sets
    SECURE_PROXY_SSL_HEADER), as under gunicorn (config/gunicorn.py) and daphne."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        secure = environ.get("HTTPS", "").lower() in {"on", "1"}
        environ["wsgi.url_scheme"] = "https" if secure else "http"
        return self.app(environ, start_response)

"""`Authorization: Bearer <key>` for /api/v1/, one auth object per scope.

Missing, malformed, unknown, revoked and expired keys all get the same 401 (nothing in
the answer says which, so it tells nobody which keys exist); a valid key without the
operation's scope gets 403. A `<domain>:write` scope includes `<domain>:read`. Then the
rate limit of that scope is counted (429 before the handler runs)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from api import ratelimit
from api.actions import authenticate, mark_used
from api.models import ApiKey
from api.problems import Problem

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="concord"'}


def unauthorized() -> Problem:
    return Problem(
        401,
        "unauthorized",
        "send a valid, active API key as 'Authorization: Bearer <key>'",
        headers=UNAUTHORIZED_HEADERS,
    )


def grants(key: ApiKey, scope: str) -> bool:
    if scope in key.scopes:
        return True
    domain, _, level = scope.partition(":")
    return level == "read" and f"{domain}:write" in key.scopes


class KeyAuth(HttpBearer):
    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest):
        # Not HttpBearer's: it logs an unexpected header (a secret, maybe) under DEBUG.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized()
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey:
        key = authenticate(token)
        if key is None:
            raise unauthorized()
        if not grants(key, self.scope):
            raise Problem(403, "insufficient_scope", f"this key lacks the {self.scope} scope")
        request.api_usage = ratelimit.hit(key.pk, self.scope)  # a 429 here writes nothing
        mark_used(key)
        return key


def scope(name: str) -> KeyAuth:
    return KeyAuth(name)

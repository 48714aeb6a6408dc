"""`Authorization: Bearer <key>` for /api/v1/, one auth object per scope.

Missing, malformed, unknown, revoked and expired keys all get the same 401 (nothing in
the answer says which, so it tells nobody which keys exist); a valid key without the
operation's scope gets 403. A `<domain>:write` scope includes `<domain>:read`. Then the
rate limit of that scope is counted (429 before the handler runs).

A key is read from this process's copy when the keys' generation allows it
(`api.keycache`: no query, and the generation comes in the rate limit's round trip),
else from the database."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from api import keycache, ratelimit
from api.actions import authenticate, is_active, mark_used
from api.actions.keys import parse_token, secret_matches
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
        key, counted = self._kept(token)
        if key is None:
            key = authenticate(token)
            if key is None:
                raise unauthorized()
            if not grants(key, self.scope):
                raise Problem(403, "insufficient_scope", f"this key lacks the {self.scope} scope")
        if counted is None:
            counted, _ = ratelimit.count(key.pk, self.scope)
        request.api_usage = ratelimit.judge(counted)  # a 429 here writes nothing
        mark_used(key)
        return key

    def _kept(self, token: str) -> tuple[ApiKey | None, ratelimit.Count | None]:
        """The key from this process's copy (`api.keycache`) if it passes every check and
        the keys' generation, read in the rate limit's round trip, is the copy's: (key,
        its count). (None, count): the copy was stale, the request is counted, read the
        key. (None, None): no usable copy. Only a request whose key the copy accepts is
        counted here: a wrong secret never uses up a real key's limit."""
        parsed = parse_token(token) if keycache.enabled() else None
        entry = keycache.keys.get(parsed[0]) if parsed is not None else None
        if entry is None:
            return None, None
        key = entry.key
        if not (
            secret_matches(key, parsed[1])
            and is_active(key, timezone.now())
            and grants(key, self.scope)
        ):
            return None, None
        counted, generation = ratelimit.count(key.pk, self.scope, also_get=keycache.GENERATION)
        return (key if generation == entry.generation else None), counted


def scope(name: str) -> KeyAuth:
    return KeyAuth(name)

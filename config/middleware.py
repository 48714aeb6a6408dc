"""Odd input is the client's error (400), never a crash (500).

NUL (U+0000) is never valid in Concord's text: no name, search, scope or label contains
it, and PostgreSQL refuses it in every text parameter (the driver raises `DataError`).
Django's form fields already refuse it, but filters, searches and admin changelist
lookups pass query-string values straight into querysets. One check at the door covers
them all: a NUL in the path, in a query-string name or value, or in a form body
(percent-decoded) answers 400 and the request goes no further.

The other value a database cannot hold is an integer past 64 bits: PostgreSQL compares
one as a numeric, but SQLite's driver raises `OverflowError` while binding it (an admin
filter `?tournament=9223372036854775808`, an object id in an admin URL). That can only
come from the request, so it answers 400 too.

JSON bodies are left to their views: there a NUL is an escape (`\\u0000`) that the view's
own parser turns into text, and the view validates it like any other field.
"""

from __future__ import annotations

import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBadRequest, QueryDict

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# What sqlite3 raises binding an int past 64 bits (Python 3.11-3.14).
SQLITE_OVERFLOW = "too large to convert to SQLite INTEGER"


def has_nul(request: HttpRequest) -> bool:
    """Whether the path, the query string or a form body holds a NUL, once decoded."""
    if NUL in request.path_info or _holds_nul(request.GET):
        return True
    if request.method == "POST" and request.content_type in FORM_TYPES:
        # The same parse CsrfViewMiddleware does for its token; views reuse it.
        return _holds_nul(request.POST)
    return False


def _holds_nul(data: QueryDict) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in data.lists())


def bad_request(reason: str, request: HttpRequest | None = None) -> HttpResponseBadRequest:
    if request is not None and request.path_info.startswith("/api/"):
        # The Bot API answers every error as a problem body (api.problems, RFC 9457).
        body = {
            "type": "https://concord.invalid/problems/bad_request",
            "title": "Bad request",
            "status": 400,
            "code": "bad_request",
            "detail": reason,
        }
        return HttpResponseBadRequest(json.dumps(body), content_type="application/problem+json")
    return HttpResponseBadRequest(f"bad request: {reason}\n", content_type="text/plain")


class RefuseOddInputMiddleware:
    """400 for NUL in the path, query string or form body, and for a number the database
    cannot hold (see the module docstring)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if has_nul(request):
            return bad_request("NUL in the query", request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest):
        # The ASGI handler has read the body already: parsing it here waits on nothing.
        if has_nul(request):
            return bad_request("NUL in the query", request)
        return await self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, OverflowError) and SQLITE_OVERFLOW in str(exception):
            return bad_request("a number too large", request)
        return None

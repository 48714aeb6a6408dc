"""The Bot API, version 1: one `NinjaAPI` at /api/v1/ (schema at /api/v1/openapi.json,
interactive docs at /api/v1/docs served from Concord's own static files).

Why django-ninja: it generates the OpenAPI 3 schema from typed handlers (pydantic), runs
inside Django's request cycle (middleware, the ORM, the same actions; under WSGI a
shorter middleware chain than pages: config.handlers), and ships
Swagger UI's files in its package, so the docs page needs no CDN. This module holds the
request body parser and the exception handlers that turn every refusal into a problem
body (`api.problems`); the routes are in `api/routes/`."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from api import problems
from api.auth import unauthorized
from api.problems import Problem
from api.routes import (
    events,
    ledger,
    members,
    payments,
    standing,
    stories,
    tournaments,
    webhooks,
)

logger = logging.getLogger(__name__)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _too_large() -> Problem:
    limit = settings.API_MAX_BODY_BYTES
    return Problem(413, "body_too_large", f"a request body has at most {limit} bytes")


class StrictJsonParser(Parser):
    """A JSON object of at most API_MAX_BODY_BYTES; anything else is a 400/413/415."""

    def parse_body(self, request: HttpRequest):
        limit = settings.API_MAX_BODY_BYTES
        try:
            declared = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise _too_large()
        try:
            raw = request.body
        except RequestDataTooBig:
            raise _too_large() from None
        if len(raw) > limit:
            raise _too_large()
        if not raw.strip():
            raw = b"{}"
        elif not request.content_type.startswith("application/json"):
            raise Problem(415, "unsupported_media_type", "send the body as application/json")
        try:
            data = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, a 5000-digit int
            raise Problem(
                400, "malformed_json", f"the body is not valid JSON: {exc}"[:300]
            ) from None
        if not isinstance(data, dict):
            raise Problem(400, "malformed_json", "the body is a JSON object")
        return data


class Encoder(NinjaJSONEncoder):
    """Times to the microsecond, as pydantic writes them in stored idempotent answers
    (Django's encoder cuts them to milliseconds): a replay and a read agree."""

    def default(self, o):
        if isinstance(o, datetime):
            return o.isoformat().replace("+00:00", "Z")
        return super().default(o)


class Renderer(JSONRenderer):
    encoder_class = Encoder


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; branch on `code`.",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "fields": {"type": "array", "items": {"type": "string"}},
    },
}


class BotApi(NinjaAPI):
    _schemas: dict = {}

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """ninja's schema, with every operation's refusals: a problem body (4XX). Built
        once per process (ninja builds it on every request: ~50 ms of CPU)."""
        key = (path_prefix, repr(path_params))
        if key not in self._schemas:
            self._schemas[key] = self._build_schema(path_prefix, path_params)
        return self._schemas[key]

    def _build_schema(self, path_prefix, path_params):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        refusal = {
            "description": "Refused: a problem (RFC 9457) with a stable `code`",
            "content": {
                problems.CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].setdefault("4XX", refusal)
        return schema


api = BotApi(
    renderer=Renderer(),
    title="Concord Bot API",
    version="1",
    description=(
        "One door for every bot. Authenticate with `Authorization: Bearer <key>`"
        " (`manage.py api_key create`). Errors are RFC 9457 problem details with a stable"
        " `code`. Writing POSTs take an `Idempotency-Key` header (required where value"
        " moves). See docs/API.md."
    ),
    urls_namespace="api-v1",
    parser=StrictJsonParser(),
    docs_url="/docs",
    # Swagger UI's files come from Concord's static (ninja is in INSTALLED_APPS); no
    # validator badge (it would load an image from validator.swagger.io).
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}),
    openapi_url="/openapi.json",
)


def _field_errors(exc: ValidationError) -> list[dict]:
    errors = []
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ())]
        # ("body", "payload", "amount") -> "amount"; ("query", "limit") -> "limit"
        if location[:2] and location[0] == "body" and len(location) > 2:
            location = location[2:]
        elif location:
            location = location[1:] or location
        errors.append(
            {
                "field": ".".join(location),
                "message": str(error.get("msg", "invalid")),
                "type": str(error.get("type", "invalid")),
            }
        )
    return errors


@api.exception_handler(Problem)
def _problem(request, exc: Problem):
    return problems.render(exc)


@api.exception_handler(ValidationError)
def _validation(request, exc: ValidationError):
    return problems.response(
        422,
        problems.body(
            422, "validation_failed", "some fields are invalid", errors=_field_errors(exc)
        ),
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return problems.render(unauthorized())


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, Problem):  # ninja wraps what the body parser raises
        return problems.render(exc.__cause__)
    return problems.response(
        exc.status_code, problems.body(exc.status_code, "http_error", str(exc))
    )


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return problems.render(_too_large())


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problems.response(404, problems.body(404, "not_found", "no such resource"))


for _base in problems.DOMAIN_BASES:

    @api.exception_handler(_base)
    def _domain(request, exc):
        return problems.render(problems.of_domain(exc))


@api.exception_handler(Exception)
def _unexpected(request, exc):
    logger.exception("api: unexpected error on %s %s", request.method, request.path)
    return problems.response(500, problems.body(500, "internal_error", "unexpected error"))


api.add_router("/members", members.router)
api.add_router("/ledger", ledger.router)
api.add_router("/ledger", standing.router)
api.add_router("/payments", payments.router)
api.add_router("/readings", payments.readings)
api.add_router("/tournaments", tournaments.router)
api.add_router("/stories", stories.router)
api.add_router("/events", events.router)
api.add_router("/webhooks", webhooks.router)

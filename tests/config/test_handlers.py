"""config.wsgi.application: the Bot API's calls run a shorter middleware chain than pages
(config.handlers), and lose nothing the API relies on: the security headers, a CSP, the
rate limit's headers, metrics, the odd-input refusal. Requests go through the WSGI
application itself, as a WSGI server calls it (tests/config/test_wsgi_servers.py serves
it under uWSGI and gunicorn)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import Client, RequestFactory
from django.urls import resolve
from prometheus_client import REGISTRY

from api.actions import create_key
from api.middleware import API_CSP
from config.handlers import BotApiHandler, TransportScheme, is_bot_api_call
from config.wsgi import application
from ledger.models import Transfer
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS_COUNT = "concord_http_request_duration_seconds_count"  # ops.metrics


def call(method: str, path: str, *, body: dict | None = None, **headers):
    """(status, headers as a dict of lists, body) of `application` for one request."""
    factory = RequestFactory()
    if body is None:
        request = getattr(factory, method.lower())(path, headers=headers)
    else:
        request = getattr(factory, method.lower())(
            path, json.dumps(body), content_type="application/json", headers=headers
        )
    answered = {}

    def start_response(status, response_headers, exc_info=None):
        answered["status"] = int(status.split()[0])
        answered["headers"] = {}
        for name, value in response_headers:
            answered["headers"].setdefault(name.lower(), []).append(value)

    chunks = application(request.environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answered["status"], answered["headers"], content


def one(headers: dict, name: str) -> str:
    [value] = headers[name.lower()]
    return value


def test_which_calls_take_the_bot_api_chain():
    assert is_bot_api_call("/api/v1/ledger/awards")
    assert is_bot_api_call("/api/v1/openapi.json")
    # HTML for people: the pages' chain, however the path is spelled
    for page in ("/api/v1/docs", "/api/v1/docs/", "/api/v1/docsX", "/api/v1/docs/../x"):
        assert not is_bot_api_call(page), page
    for other in ("/dashboard/", "/api/v2/ledger/awards", "//api/v1/x", "/API/v1/x"):
        assert not is_bot_api_call(other), other


def test_the_bot_api_chain_keeps_what_the_api_relies_on_and_nothing_pages_only():
    assert settings.BOT_API_MIDDLEWARE == [
        "ops.middleware.MetricsMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "api.middleware.BotApiCspMiddleware",
        "config.middleware.RefuseOddInputMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "api.middleware.RateLimitHeadersMiddleware",
    ]
    assert set(settings.PAGES_ONLY_MIDDLEWARE) <= set(settings.MIDDLEWARE)


@pytest.fixture
def page_middleware_calls(monkeypatch):
    """The paths SessionMiddleware and MessageMiddleware saw, in order."""
    seen = []
    for middleware in (SessionMiddleware, MessageMiddleware):
        original = middleware.process_request

        def spy(self, request, original=original):
            seen.append(request.path)
            return original(self, request)

        monkeypatch.setattr(middleware, "process_request", spy)
    return seen


def test_only_pages_run_the_pages_only_middleware(page_middleware_calls):
    assert call("GET", "/api/v1/openapi.json")[0] == 200
    assert page_middleware_calls == []

    assert call("GET", "/admin/login/")[0] == 200
    assert call("GET", "/api/v1/docs")[0] == 200
    assert page_middleware_calls == ["/admin/login/"] * 2 + ["/api/v1/docs"] * 2


def test_an_award_through_the_wsgi_application_pays_once_with_every_header_and_no_cookie():
    member = MemberFactory()
    token = create_key(label="wsgi chain", scopes=["ledger:write"]).token
    award = {"member_id": member.pk, "amount": 5, "reason": "chain"}
    auth = {"Authorization": f"Bearer {token}", "Idempotency-Key": "chain-1"}
    view = resolve("/api/v1/ledger/awards").view_name
    answered = {"view": view, "method": "POST", "status": "201"}
    before = REGISTRY.get_sample_value(REQUESTS_COUNT, answered) or 0

    status, headers, content = call("POST", "/api/v1/ledger/awards", body=award, **auth)
    again = call("POST", "/api/v1/ledger/awards", body=award, **auth)

    assert status == 201, content
    assert again[0] == 201
    assert again[2] == content
    assert one(again[1], "Idempotent-Replayed") == "true"
    assert Transfer.objects.filter(reason="chain").count() == 1
    assert one(headers, "Content-Security-Policy") == API_CSP
    assert one(headers, "X-Frame-Options") == "DENY"
    assert one(headers, "X-Content-Type-Options") == "nosniff"
    assert "ratelimit-policy" in headers
    assert "ratelimit" in headers
    assert "set-cookie" not in headers
    assert "vary" not in headers
    assert REGISTRY.get_sample_value(REQUESTS_COUNT, answered) == before + 2


def test_a_signed_in_staff_cookie_authenticates_nothing_on_the_bot_api(page_middleware_calls):
    staff = get_user_model().objects.create_user("chain-staff", password="x", is_staff=True)
    browser = Client()
    browser.force_login(staff)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"

    status, headers, content = call("GET", "/api/v1/ledger/members/1/balance", Cookie=cookie)

    assert status == 401
    assert json.loads(content)["code"] == "unauthorized"
    assert "set-cookie" not in headers
    assert page_middleware_calls == []  # no session was read


def test_odd_input_is_refused_on_the_bot_api_chain_too_with_the_apis_csp():
    status, headers, _ = call("GET", "/api/v1/ledger/members/1/statement?cursor=%00")

    assert status == 400
    assert one(headers, "Content-Security-Policy") == API_CSP


def test_pages_and_the_api_docs_keep_the_full_chain():
    status, headers, _ = call("GET", "/admin/login/")
    assert status == 200
    assert "csrftoken" in " ".join(headers["set-cookie"])
    assert "'self'" in one(headers, "Content-Security-Policy")

    status, headers, _ = call("GET", "/api/v1/docs")
    assert status == 200
    assert "'self'" in one(headers, "Content-Security-Policy")


def test_the_bot_api_answers_carry_the_same_csp_under_the_full_chain(client):
    response = client.get("/api/v1/openapi.json")  # Django's test client: the full chain

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == API_CSP


def test_the_bot_api_chain_is_for_wsgi_only():
    with pytest.raises(ValueError, match="WSGI"):
        BotApiHandler().load_middleware(is_async=True)


@pytest.mark.parametrize(
    ("environ", "scheme"),
    [
        ({"HTTP_X_FORWARDED_PROTO": "https", "wsgi.url_scheme": "https"}, "http"),
        ({"HTTP_X_FORWARDED_SSL": "on", "wsgi.url_scheme": "https"}, "http"),
        ({"HTTPS": "on", "wsgi.url_scheme": "https"}, "https"),
        ({"wsgi.url_scheme": "http"}, "http"),
    ],
)
def test_under_uwsgi_the_scheme_is_the_connections_not_a_header(environ, scheme):
    seen = []
    TransportScheme(lambda env, start: seen.append(env["wsgi.url_scheme"]))(dict(environ), None)
    assert seen == [scheme]

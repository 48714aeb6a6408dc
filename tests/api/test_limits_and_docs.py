"""Rate limits per key and scope; the schema and the offline docs page."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings

from ledger.models import Transfer

pytestmark = pytest.mark.django_db


@override_settings(API_RATE_LIMITS={"default": (100, 60), "ledger:write": (3, 60)})
def test_past_the_limit_a_write_is_429_with_retry_after_and_writes_nothing(bot, alice):
    answers = [
        bot.post("/ledger/awards", {"member_id": alice.pk, "amount": 1, "reason": "x"}, key=f"k{n}")
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert answers[0]["RateLimit-Policy"] == '"ledger:write";q=3;w=60'
    assert re.fullmatch(r'"ledger:write";r=2;t=\d+', answers[0]["RateLimit"])
    limited = answers[3]
    assert limited["Content-Type"] == "application/problem+json"
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert re.fullmatch(r'"ledger:write";r=0;t=\d+', limited["RateLimit"])
    assert Transfer.objects.filter(kind="award").count() == 3
    # Other scopes count on their own; other keys too.
    assert bot.get(f"/ledger/members/{alice.pk}/balance").status_code == 200


@override_settings(API_RATE_LIMITS={"default": (2, 60)})
def test_limits_are_per_key(make_bot):
    one, two = make_bot("members:read"), make_bot("members:read")
    assert [one.get("/members/1").status_code for _ in range(3)] == [404, 404, 429]
    assert two.get("/members/1").status_code == 404


def test_the_window_resets(make_bot, monkeypatch):
    from api import ratelimit

    with override_settings(API_RATE_LIMITS={"default": (1, 10)}):
        ratelimit.hit(1, "members:read", now=1000.0)
        with pytest.raises(ratelimit.Problem) as refused:
            ratelimit.hit(1, "members:read", now=1005.0)
        assert refused.value.headers["Retry-After"] == "5"
        assert ratelimit.hit(1, "members:read", now=1010.0).remaining == 0


def test_a_counter_always_has_a_lifetime_so_a_window_ends():
    """On Redis the counter is created and counted in one atomic script: never a counter
    left without a lifetime (which would refuse the key for ever once past its limit)."""
    from django.core.cache import cache

    from api import ratelimit

    window_start = 1_000_000 // 60 * 60
    counter = f"api:rate:77:members:read:{window_start}"
    cache.delete(counter)
    ratelimit.hit(77, "members:read", now=1_000_000.0)
    ratelimit.hit(77, "members:read", now=1_000_001.0)
    assert cache.get(counter) == 2
    if hasattr(cache, "ttl"):  # django-redis
        assert 0 < cache.ttl(counter) <= 61


def test_openapi_schema_lists_the_endpoints_and_the_bearer_scheme():
    schema = Client().get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/ledger/awards" in schema["paths"]
    assert "/api/v1/members" in schema["paths"]
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


def test_the_docs_page_needs_no_other_host():
    page = Client().get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", html), html
    assets = re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        served = Client().get(asset)
        assert served.status_code == 200, asset
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert body


@pytest.mark.parametrize("value", ["ledger:write=10", "ledger:write=x/60", "=5/60", "a=0/60"])
def test_a_malformed_rate_limit_setting_stops_the_start(monkeypatch, value):
    from django.core.exceptions import ImproperlyConfigured

    from config.settings import api_rate_limits

    monkeypatch.setenv("API_RATE_LIMITS", value)
    with pytest.raises(ImproperlyConfigured, match="API_RATE_LIMITS"):
        api_rate_limits("API_RATE_LIMITS", {"default": (1, 1)})


def test_rate_limit_setting_overrides_the_defaults(monkeypatch):
    from config.settings import api_rate_limits

    monkeypatch.setenv("API_RATE_LIMITS", "ledger:write=5/10, default=7/60")
    assert api_rate_limits("API_RATE_LIMITS", {"default": (1, 1), "members:write": (2, 2)}) == {
        "default": (7, 60),
        "ledger:write": (5, 10),
        "members:write": (2, 2),
    }

"""Odd input never makes a 500: every page a superuser can reach, fed values a prober
sends (NUL, digits `str.isdigit()` accepts but `int()` refuses, lone surrogates, invalid
UTF-8, numbers past 64 bits, very long strings), answers 200 (no match), a redirect, 404,
or 400, never 500.

Why it matters: a 500 is a crash the operator gets paged for and the prober learns from.
NUL is the sharpest case: PostgreSQL refuses it in any text parameter, so a NUL that
reaches a query raises in the database driver; config/middleware.py refuses it at the
door with 400 instead. The matrix runs on both backends (SQLite accepts NUL, PostgreSQL
does not; SQLite refuses integers past 64 bits, PostgreSQL compares them).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import transaction

from dashboard.actions import create_token

pytestmark = pytest.mark.django_db

# Values as they arrive on the wire: percent-encoded in a query string or form body.
ODD = {
    "nul": "%00",
    "nul-inside": "ab%00cd",
    "superscript-two": "%C2%B2",
    "circled-one": "%E2%91%A0",
    "arabic-indic-three": "%D9%A3",
    "fullwidth-digits": "%EF%BC%91%EF%BC%92",
    "lone-surrogate": "%ED%A0%80",
    "invalid-utf8": "%FF%FE",
    "past-bigint": str(2**63),
    "400-digits": "9" * 400,
    "negative": "-1",
    "long": "x" * 20_000,
    "terminal-escape": "%1B%5B31m",
    "bidi-override": "%E2%80%AE",
    "quotes-and-tags": "%27%22%3Cb%3E",
    "like-wildcards": "%25_%5C",
    "empty": "",
}
NUL_CASES = {"nul", "nul-inside"}

# Pages with one `{v}` where the odd value goes; `{member}`, `{token}` are filled in.
DASHBOARD_GETS = [
    "/dashboard/members/?q={v}",
    "/dashboard/members/?q=a&page={v}",
    "/dashboard/members/{member}/?before={v}",
    "/dashboard/members/{member}/?currency={v}",
    "/dashboard/?{v}={v}",
    "/dashboard/tournaments/?x={v}",
    "/dashboard/stories/?x={v}",
    "/dashboard/overlays/?x={v}",
    "/dashboard/overlays/fleet/?x={v}",
    "/overlays/{token}/leaderboard/?x={v}",
    "/admin/?x={v}",
    "/admin/login/?next={v}",
    "/admin/jsi18n/?x={v}",
]
# The same values in a path segment.
PATH_GETS = [
    "/dashboard/members/{v}/",
    "/dashboard/tournaments/{v}/",
    "/dashboard/stories/{v}/",
    "/admin/accounts/member/{v}/change/",
    "/admin/ledger/transfer/{v}/change/",
    "/admin/ledger/streak/{v}/change/",
]
POSTS = [
    ("/dashboard/overlays/new", "scope={v}&label={v}"),
    ("/dashboard/overlays/connections/x/reload", "x={v}"),
    ("/admin/login/", "username={v}&password={v}"),
    ("/admin/accounts/member/", "action={v}&_selected_action={v}&index=0"),
]
ALLOWED = {200, 301, 302, 400, 404, 429}  # 429: the login throttle locks after 10 failures


@pytest.fixture
def superuser_client(client, staff, alice, bob):
    """Logged in as a superuser (sees every page and every filter), with two members."""
    client.force_login(staff)
    return client


@pytest.fixture
def fill(alice):
    token = create_token("leaderboard:points", label="odd").token

    def fill(template: str, value: str) -> str:
        return (
            template.replace("{member}", str(alice.pk))
            .replace("{token}", token)
            .replace("{v}", value)
        )

    return fill


def outcome(client, url: str, body: str | None = None) -> int | str:
    """The status `url` answers, or what it raised (a 500 in production). Each request
    runs in a savepoint, so a database error does not poison the next one."""
    try:
        with transaction.atomic():
            if body is None:
                return client.get(url, follow=True).status_code
            return client.post(
                url, body, content_type="application/x-www-form-urlencoded", follow=True
            ).status_code
    except Exception as exc:  # the test client re-raises what the view raised
        return f"raised {type(exc).__name__}: {str(exc)[:100]}"


def wrong(status: int | str, value_id: str) -> bool:
    """Whether a status is not an acceptable answer to this odd value."""
    if value_id in NUL_CASES:
        return status != 400
    return status not in ALLOWED


def assert_no_crash(client, requests: list[tuple[str, str, str | None]]) -> None:
    """Every (value id, url, body) is answered acceptably; else all that were not."""
    found = []
    for value_id, url, body in requests:
        status = outcome(client, url, body)
        if wrong(status, value_id):
            found.append(f"{value_id}: {url[:90]} {(body or '')[:60]} -> {status}")
    assert not found, "\n" + "\n".join(found)


# --- the probe's findings, as reported ------------------------------------------------


@pytest.mark.parametrize(
    "query", ["%00", "%C2%B2", "%E2%91%A0"], ids=["nul", "superscript", "circled"]
)
def test_member_search_answers_no_match_or_400_for_the_reported_values(superuser_client, query):
    response = superuser_client.get(f"/dashboard/members/?q={query}")
    assert response.status_code in {200, 400}
    if response.status_code == 200:
        assert list(response.context["page"].object_list) == []


def test_member_search_by_an_ascii_number_still_finds_the_member(superuser_client, alice):
    response = superuser_client.get(f"/dashboard/members/?q={alice.pk}")
    assert response.status_code == 200
    assert alice in list(response.context["page"].object_list)


def test_admin_filter_with_nul_is_refused_with_400(superuser_client):
    response = superuser_client.get("/admin/accounts/member/?identities__platform=%00")
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_nul_in_a_form_body_is_refused_and_changes_nothing(superuser_client):
    from dashboard.models import OverlayToken

    before = OverlayToken.objects.count()
    response = superuser_client.post(
        "/dashboard/overlays/new",
        "scope=ticker&label=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert OverlayToken.objects.count() == before


def test_a_form_body_that_is_not_a_form_is_left_to_its_view(superuser_client):
    # JSON bodies are their view's to parse (a NUL escape there is text, not a byte).
    response = superuser_client.post(
        "/admin/login/", '{"username": "\\u0000"}', content_type="application/json"
    )
    assert response.status_code == 200


async def test_nul_is_refused_under_asgi_as_daphne_serves_it(async_client):
    response = await async_client.get("/dashboard/members/?q=%00")
    assert (response.status_code, response.content) == (400, b"bad request: NUL in the query\n")
    response = await async_client.post(
        "/dashboard/overlays/new", "label=a%00b", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400


# --- the matrix ---------------------------------------------------------------------


@pytest.mark.parametrize("template", DASHBOARD_GETS)
def test_pages_answer_odd_query_values_without_a_crash(superuser_client, fill, template):
    requests = [(vid, fill(template, value), None) for vid, value in ODD.items()]
    assert_no_crash(superuser_client, requests)


@pytest.mark.parametrize("template", PATH_GETS)
def test_pages_answer_odd_path_segments_without_a_crash(superuser_client, fill, template):
    requests = [(vid, fill(template, value), None) for vid, value in ODD.items() if value]
    assert_no_crash(superuser_client, requests)


@pytest.mark.parametrize(("path", "body"), POSTS, ids=[p for p, _ in POSTS])
def test_forms_answer_odd_values_without_a_crash(superuser_client, fill, path, body):
    requests = [(vid, path, fill(body, value)) for vid, value in ODD.items()]
    assert_no_crash(superuser_client, requests)


def changelists() -> list[str]:
    return sorted(
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for model in admin.site._registry
    )


# The admin's search, paging and every filter, with the values most likely to break a
# lookup (every changelist times every parameter times all of ODD is minutes of requests).
ADMIN_ODD = [
    "nul",
    "superscript-two",
    "lone-surrogate",
    "invalid-utf8",
    "past-bigint",
    "negative",
    "long",
    "like-wildcards",
]


@pytest.mark.parametrize("changelist", changelists())
def test_admin_changelists_answer_odd_search_filter_and_paging_values(superuser_client, changelist):
    plain = superuser_client.get(changelist)
    assert plain.status_code == 200, changelist
    cl = plain.context["cl"]
    params = {"q", "p", "o", "all"}
    for spec in cl.filter_specs:
        params.update(spec.expected_parameters())
    for entry in cl.model_admin.get_list_filter(plain.wsgi_request):
        if isinstance(entry, str):
            params.add(entry)  # the bare field path, as `?identities__platform=` was sent
    requests = [
        (vid, f"{changelist}?{param}={ODD[vid]}", None)
        for param in sorted(params)
        for vid in ADMIN_ODD
    ]
    assert_no_crash(superuser_client, requests)

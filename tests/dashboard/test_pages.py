"""The staff dashboard's pages, and the cache behind them."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from dashboard import cache as cached
from dashboard import renders
from integrity.registry import get_check
from ledger import actions as ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_dashboard_pages_need_a_staff_login(client, alice):
    for path in ["/dashboard/", "/dashboard/members/", f"/dashboard/members/{alice.pk}/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_home_shows_counters_feed_and_leaderboards(staff_client, alice, bob):
    ledger.award(alice, 40, reason="quiz", idempotency_key="home-1")
    response = staff_client.get("/dashboard/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'ws-connect="/ws/dashboard/"' in body
    assert 'data-counter="members">2<' in body
    assert 'id="leaderboard-points"' in body
    assert f'data-member-id="{alice.pk}"' in body
    assert 'data-amount="140"' in body  # welcome bonus + the award
    assert "quiz" in body  # the feed


def test_member_search_and_member_page(staff_client, alice, bob):
    ledger.award(alice, 5, reason="found me", idempotency_key="search-1")
    found = staff_client.get("/dashboard/members/", {"q": alice.display_name[:4]})
    assert found.status_code == 200
    assert f"/dashboard/members/{alice.pk}/" in found.content.decode()
    page = staff_client.get(f"/dashboard/members/{alice.pk}/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "found me" in body
    assert 'data-wallet="points" data-amount="105">105<' in body
    assert staff_client.get("/dashboard/members/999999/").status_code == 404


def test_a_cached_leaderboard_is_fresh_after_each_commit(alice, bob):
    first = cached.leaderboard("points")
    assert {r["member_id"]: r["amount"] for r in first}[alice.pk] == 100
    with transaction.atomic():
        transfer = ledger.award(alice, 50, reason="x", idempotency_key="fresh-1")
    # The post-commit handler bumped the version: the next read recomputes.
    from events.models import Event

    event = Event.objects.get(subject=f"transfer:{transfer.pk}")
    cached.invalidate(event)
    after = cached.leaderboard("points")
    assert {r["member_id"]: r["amount"] for r in after}[alice.pk] == 150
    assert cached.balance(alice.pk, "points") == 150


def test_a_reader_racing_a_commit_cannot_pin_a_stale_value(alice):
    name = cached.balance_name(alice.pk, "points")
    version = cache.get(f"v:{name}") or 0
    # A reader computed 100 before the commit, and stores it after the bump:
    cached.bump(name)
    cache.set(f"{name}:v{version}", 100)
    ledger.award(alice, 1, reason="x", idempotency_key="race-1")
    cached.bump(name)
    assert cached.balance(alice.pk, "points") == 101


def test_the_integrity_check_finds_a_stale_cached_value(alice, monkeypatch):
    from dashboard import integrity

    monkeypatch.setattr(integrity, "SETTLE_SECONDS", 0.01)
    check = get_check("dashboard.cache_matches_database").func
    cached.balance(alice.pk, "points")
    assert check().count == 0
    name = cached.balance_name(alice.pk, "points")
    cache.set(f"{name}:v{cache.get(f'v:{name}') or 0}", 12345)
    found = check()
    assert found.count == 1
    assert found.sample == [f"balance:{alice.pk}:points"]


def test_feed_text_names_members(alice):
    ledger.award(alice, 3, reason="typo hunt", idempotency_key="feed-1")
    (item, *_) = renders.feed()
    assert alice.display_name in item.text
    assert "+3 points" in item.text
    assert "typo hunt" in item.text


def test_overlay_links_are_created_and_listed_from_the_dashboard(staff_client):
    from dashboard.models import OverlayToken

    response = staff_client.post(
        "/dashboard/overlays/new", {"scope": "leaderboard:points", "label": "main"}, follow=True
    )
    token = OverlayToken.objects.get()
    body = response.content.decode()
    assert (token.scope, token.label, token.created_by_id) == (
        "leaderboard:points",
        "main",
        response.wsgi_request.user.pk,
    )
    assert token.path in body
    refused = staff_client.post("/dashboard/overlays/new", {"scope": "bogus"}, follow=True)
    assert "not a scope" in refused.content.decode()
    assert OverlayToken.objects.count() == 1
    assert staff_client.get("/dashboard/overlays/new").status_code == 405


def test_home_shows_how_far_the_relay_is_behind(staff_client, alice):
    from django.utils import timezone

    from events.models import Event, RelayPosition

    latest = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": latest - 2, "moved_at": timezone.now()}
    )
    body = staff_client.get("/dashboard/").content.decode()
    assert 'data-counter="relay_behind">2<' in body
    assert "relay behind" in body


def test_a_large_board_not_cached_is_fetched_after_the_home_page_paints(
    staff_client, alice, settings
):
    """Above DASHBOARD_DEFER_BOARDS_ABOVE wallets a board missing from the cache is not
    computed in the home page's request: the page carries its frame, which fetches it
    (hx-trigger=load); once computed it is cached, and the next home page shows it."""
    settings.DASHBOARD_DEFER_BOARDS_ABOVE = -1  # every board counts as large
    ledger.award(alice, 40, reason="quiz", idempotency_key="defer-1")
    body = staff_client.get("/dashboard/").content.decode()
    assert 'hx-get="/dashboard/leaderboards/points/"' in body
    assert 'id="leaderboard-points"' in body  # the frame: relayed updates replace it too
    assert f'data-member-id="{alice.pk}"' not in body

    board = staff_client.get("/dashboard/leaderboards/points/")
    assert board.status_code == 200
    table = board.content.decode()
    assert table.startswith('<table id="leaderboard-points"')
    assert f'data-member-id="{alice.pk}"' in table
    assert 'data-amount="140"' in table

    again = staff_client.get("/dashboard/").content.decode()
    assert f'data-member-id="{alice.pk}"' in again
    assert 'hx-get="/dashboard/leaderboards/points/"' not in again


def test_a_small_board_is_computed_in_the_home_page_itself(staff_client, alice, settings):
    settings.DASHBOARD_DEFER_BOARDS_ABOVE = 200_000
    ledger.award(alice, 40, reason="quiz", idempotency_key="inline-1")
    body = staff_client.get("/dashboard/").content.decode()
    assert f'data-member-id="{alice.pk}"' in body
    assert "/dashboard/leaderboards/" not in body


def test_the_board_of_an_unknown_currency_is_not_found(staff_client):
    assert staff_client.get("/dashboard/leaderboards/gold/").status_code == 404

"""The home page's counters and leaderboards are computed ahead of requests (beat's
`dashboard.tasks.warm_home`): a request paints the last counters when the fresh ones
have lapsed, and the socket's resync (what it sends on connect) brings fresh ones."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts.models import Member
from dashboard import cache as cached
from dashboard import renders
from dashboard.tasks import warm_home_page
from ledger import actions as ledger
from ledger import queries
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _same(found: dict) -> dict:
    return {k: v for k, v in found.items() if k not in ("as_of", "relay", "stale")}


def test_beat_computes_the_counters_and_boards_a_cold_page_then_paints(
    staff, client, alice, monkeypatch
):
    ledger.award(alice, 40, reason="quiz", idempotency_key="warm-1")
    cached.forget_written()  # as if the relay had bumped it (no relay runs here)
    warm_home_page()
    assert _same(cache.get("dashboard:counters:last")) == _same(renders._counters())
    cache.delete("dashboard:counters")  # a second later: the fresh counters lapsed

    def refused(*args, **kwargs):
        raise AssertionError("computed in the request")

    monkeypatch.setattr(queries, "flows_since", refused)
    monkeypatch.setattr(queries, "leaderboard", refused)
    client.force_login(staff)
    body = client.get("/dashboard/").content.decode()
    monkeypatch.undo()
    assert f'data-counter="members">{Member.objects.count()}<' in body
    assert 'data-as-of="' in body  # the last counters, said so
    assert 'data-amount="140"' in body  # the board beat cached: welcome bonus + the award


def test_the_sockets_resync_brings_fresh_counters_after_the_last_ones(staff, client, alice):
    warm_home_page()
    cache.delete("dashboard:counters")
    MemberFactory()  # registered after beat's run
    client.force_login(staff)
    members = Member.objects.count()
    page = client.get("/dashboard/").content.decode()
    assert f'data-counter="members">{members - 1}<' in page  # the last counters
    assert f'data-counter="members">{members}<' in renders.render_view("dashboard:counters", 0)
    # ... and the next page paints those (fresh for a second, then the last ones).
    assert f'data-counter="members">{members}<' in client.get("/dashboard/").content.decode()


def test_without_any_counters_cached_the_page_computes_them(staff, client, alice):
    client.force_login(staff)
    body = client.get("/dashboard/").content.decode()
    assert f'data-counter="members">{Member.objects.count()}<' in body
    assert "data-as-of" not in body
    assert cache.get("dashboard:counters:last") is not None

"""The members list: platform, balance, last active and premium columns; sorting and
filters; search by username and part of an email for roles that may see personal data;
a CSV export of exactly the current filter; a bulk award to the selection (one transfer,
paid once, Treasurer only, refusals shown and nothing written)."""

from __future__ import annotations

import csv
import io
import secrets

import pytest
from django.test import Client

from accounts.actions import start_subscription
from dashboard.lines import Lines
from ledger import actions as ledger
from ledger.models import Transfer
from ledger.queries import balance as balances
from tests.dashboard.test_roles import make_user, snapshot
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def as_role(role: str) -> Client:
    client = Client()
    client.force_login(make_user(role, prefix=secrets.token_hex(3)))
    return client


def shown(client: Client, **query) -> list[int]:
    body = client.get("/dashboard/members/", query).content.decode()
    return [int(part.split('"')[0]) for part in body.split('<tr data-member="')[1:]]


def test_columns_sorting_and_filters(alice, bob):
    ledger.award(bob, 500, reason="x", idempotency_key="m1")
    start_subscription(alice, tier="premium")
    web = MemberFactory(platform="web", external_id="w-1", username="carol")
    viewer = as_role("Viewer")
    body = viewer.get("/dashboard/members/").content.decode()
    assert 'data-balance="600"' in body  # bob: welcome bonus + 500
    assert "premium</span>" in body
    assert "telegram" in body
    assert "discord" in body
    assert shown(viewer, sort="balance")[0] == bob.pk
    assert shown(viewer, premium="yes") == [alice.pk]
    assert set(shown(viewer, premium="no")) == {bob.pk, web.pk}
    assert shown(viewer, platform="discord") == [bob.pk]
    assert shown(viewer, q=f"#{web.pk}") == [web.pk]
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Member

    Member.objects.filter(pk=bob.pk).update(last_active_at=timezone.now() - timedelta(days=30))
    assert set(shown(viewer, active="7")) == {alice.pk, web.pk}  # registering is activity
    assert shown(viewer, sort="active")[-1] == bob.pk


def test_sorting_by_balance_reads_the_chosen_currencys_wallet_of_each_member(alice, bob):
    """The balance column and its order are the wallet of the chosen currency (joined:
    a member has at most one); members without one come last, by id; an unknown
    currency shows every balance as 0 (and sorts by id)."""
    web = MemberFactory(platform="web", external_id="w-2", username="dora")
    ledger.award(alice, 3, currency="credits", reason="x", idempotency_key="c-a")
    ledger.award(bob, 7, currency="credits", reason="x", idempotency_key="c-b")
    ledger.award(web, 900, reason="x", idempotency_key="p-w")  # points: not this order
    viewer = as_role("Viewer")
    assert shown(viewer, sort="balance", currency="credits") == [bob.pk, alice.pk, web.pk]
    assert shown(viewer, sort="balance", currency="points")[0] == web.pk
    assert shown(viewer, sort="balance", currency="credits", platform="discord") == [bob.pk]
    body = viewer.get("/dashboard/members/", {"sort": "balance", "currency": "credits"})
    assert 'data-balance="7"' in body.content.decode()
    gold = viewer.get("/dashboard/members/", {"sort": "balance", "currency": "gold"})
    assert gold.status_code == 200
    assert 'data-balance="0"' in gold.content.decode()
    assert shown(viewer, sort="balance", currency="gold") == sorted([alice.pk, bob.pk, web.pk])


def test_usernames_and_parts_of_emails_are_search_keys_only_for_personal_data_roles(alice):
    assert shown(as_role("Moderator"), q="@alice") == [alice.pk]
    assert shown(as_role("Moderator"), q="liddell@gm") == [alice.pk]
    assert shown(as_role("Viewer"), q="liddell@gm") == []
    assert (
        "Alice.Liddell@gmail.com"
        not in as_role("Viewer").get("/dashboard/members/").content.decode()
    )


def test_the_csv_export_is_the_current_filter_and_defuses_formulas(alice, bob):
    evil = MemberFactory(platform="web", external_id="w-2", username="=HYPERLINK(1)")
    rows = list(csv.reader(io.StringIO(_csv(as_role("Moderator"), platform="web"))))
    assert rows[0][:4] == ["id", "name", "platform", "balance_points"]
    assert "email" in rows[0]
    assert [int(row[0]) for row in rows[1:]] == [evil.pk]
    assert rows[1][1].startswith("'=")
    viewer_rows = list(csv.reader(io.StringIO(_csv(as_role("Viewer")))))
    assert "email" not in viewer_rows[0]
    assert {int(row[0]) for row in viewer_rows[1:]} == {alice.pk, bob.pk, evil.pk}


def test_each_csv_export_is_recorded_without_member_data(alice, bob):
    from events.models import Event

    moderator = as_role("Moderator")
    _csv(moderator, q="liddell@gm", premium="no")
    _csv(as_role("Viewer"), platform="discord")
    first, second = Event.objects.filter(kind="members.exported").order_by("seq")
    assert first.data == {
        "rows": 1,
        "pii": True,
        "searched": True,  # what was searched for is not said: it may be an email
        "platform": "",
        "premium": "no",
        "active": "",
        "sort": "joined",
        "currency": "points",
    }
    assert str(first.actor_id) == moderator.session["_auth_user_id"]
    assert "liddell" not in str(first.data)
    assert (second.data["rows"], second.data["pii"]) == (1, False)
    said = Lines([(first.kind, first.data)]).text(first.kind, first.data)
    assert said == "members list exported: 1 rows with emails"


def balance(member) -> int:
    return balances(member, "points")[0]


def _csv(client: Client, **query) -> str:
    response = client.get("/dashboard/members/", {**query, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content).decode()


def test_a_bulk_award_pays_the_selection_once_in_one_transfer(alice, bob):
    treasurer = as_role("Treasurer")
    form = {
        "member": [alice.pk, bob.pk],
        "amount": "25",
        "currency": "points",
        "reason": "event bonus",
        "token": "bulk-token-0123456789",
    }
    first = treasurer.post("/dashboard/members/award", form, follow=True)
    assert "Awarded 25 to 2 members in one transfer" in first.content.decode()
    treasurer.post("/dashboard/members/award", form)  # a double submit
    assert Transfer.objects.filter(reason="event bonus").count() == 1
    assert balance(alice) == balance(bob) == 125


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"member": []}, "Select at least one member"),
        ({"amount": "-5"}, "positive whole number"),
        ({"currency": "gold"}, "gold"),
        ({"reason": ""}, "reason"),
    ],
)
def test_a_refused_bulk_award_says_why_and_writes_nothing(alice, change, said):
    form = {"member": [alice.pk], "amount": "5", "currency": "points", "reason": "r"}
    form |= {"token": "bulk-token-refused-0001", **change}
    treasurer = as_role("Treasurer")
    before = snapshot()
    response = treasurer.post("/dashboard/members/award", form, follow=True)
    assert said in response.content.decode()
    after = snapshot()
    assert {t: v for t, v in after.items() if before[t] != v and t != "auth_user"} == {}


@pytest.mark.parametrize("role", ["Viewer", "Moderator", "Organiser"])
def test_only_money_roles_may_bulk_award(alice, role):
    client = as_role(role)
    assert 'name="member"' not in client.get("/dashboard/members/").content.decode()
    form = {"member": [alice.pk], "amount": "5", "reason": "r", "token": "bulk-token-x-0001"}
    assert client.post("/dashboard/members/award", form).status_code == 403
    assert not Transfer.objects.filter(reason="r").exists()


@pytest.mark.django_db(transaction=True)  # commits: the writer's own reads see its award
def test_the_first_page_by_balance_is_the_cached_board_in_the_querys_order(alice, monkeypatch):
    """Page 1 sorted by balance without a filter comes from the cached leaderboard (no
    sort of every wallet); it lists what the query would, and an award shows at once."""
    from django.http import QueryDict

    from dashboard import members_list

    monkeypatch.setattr(members_list, "PAGE", 3)
    others = [MemberFactory() for _ in range(4)]
    for n, member in enumerate(others):
        ledger.award(member, 10 * (n + 1), reason="x", idempotency_key=f"bal-{n}")
    ledger.award(others[0], 30, reason="tie with others[2]", idempotency_key="bal-tie")
    viewer = as_role("Viewer")
    listing = members_list.Listing.of(QueryDict("sort=balance"))
    by_query = [m.pk for m in listing.members(pii=False)[:3]]
    board = listing.by_balance(listing.members(pii=False), 1)
    assert board is not None
    assert [m.pk for m in board] == by_query
    assert shown(viewer, sort="balance") == by_query
    ledger.award(alice, 1_000, reason="x", idempotency_key="bal-top")
    assert shown(viewer, sort="balance")[0] == alice.pk
    # A filter or a later page is the query's.
    assert listing.of(QueryDict("sort=balance&premium=no")).by_balance(None, 1) is None
    assert shown(viewer, sort="balance", page="2") == [
        m.pk for m in listing.members(pii=False)[3:6]
    ]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_later_pages_by_balance_come_from_every_members_rank_in_the_querys_order(monkeypatch):
    """Past page 1, sorted by balance without a filter, the page's order is the all-time
    board the relay keeps (dashboard.ranks), once built; the same rows as the query."""
    from django.http import QueryDict

    from dashboard import members_list, ranks
    from tests.dashboard.test_cache_bumps import relay_past_the_fixtures

    monkeypatch.setattr(members_list, "PAGE", 3)
    people = [
        MemberFactory(platform="web", external_id=f"rk-{n}") if n % 2 else MemberFactory()
        for n in range(8)
    ]
    for n, member in enumerate(people):
        ledger.award(member, [5, 40, 5, 90, 12, 40, 7, 1][n], reason="x", idempotency_key=f"p{n}")
    relay_past_the_fixtures()
    viewer = as_role("Viewer")
    listing = members_list.Listing.of(QueryDict("sort=balance"))
    by_query = [m.pk for m in listing.members(pii=False)]
    assert listing.by_balance(listing.members(pii=False), 2) is None  # not built: the query
    ranks.build("points")
    ranked = listing.by_balance(listing.members(pii=False), 2)
    assert [m.pk for m in ranked] == by_query[3:6]
    assert shown(viewer, sort="balance", page="2") == by_query[3:6]
    assert listing.by_balance(listing.members(pii=False), 3) is None  # 2 rows: the query's
    assert shown(viewer, sort="balance", page="3") == by_query[6:]
    # Filtered, the ranks are walked from the top (in chunks of 2 here) and filtered.
    monkeypatch.setattr(members_list, "WALK_CHUNK", 2)
    web = members_list.Listing.of(QueryDict("sort=balance&platform=web"))
    assert [m.pk for m in web.by_balance(web.members(pii=False), 1)] == [
        m.pk for m in web.members(pii=False)[:3]
    ]
    rich = members_list.Listing.of(QueryDict("sort=balance&active=7"))
    for filtered in (web, rich):
        expected = [m.pk for m in filtered.members(pii=False)]
        for number in (1, 2):
            walked = filtered.by_balance(filtered.members(pii=False), number)
            page = expected[3 * (number - 1) : 3 * number]
            assert (None if walked is None else [m.pk for m in walked]) == (
                page if len(page) == 3 else None
            ), (filtered.platform, filtered.active, number)


def test_the_pager_counts_only_a_bounded_number_of_rows_past_the_page(monkeypatch):
    """The pager counts at most COUNT_CAP rows past the page asked for: beyond, it says
    "of N+" and offers "next"; every page lists the query's rows, and the last page is
    found exactly once the count reaches it."""
    from django.db import connection
    from django.http import QueryDict
    from django.test.utils import CaptureQueriesContext

    from dashboard import members_list

    monkeypatch.setattr(members_list, "PAGE", 2)
    monkeypatch.setattr(members_list, "COUNT_CAP", 3)
    for n in range(9):
        MemberFactory(platform="web", external_id=f"pager-{n}")
    viewer = as_role("Viewer")
    listing = members_list.Listing.of(QueryDict("platform=web&sort=name"))
    everyone = [m.pk for m in listing.members(pii=False)]
    assert len(everyone) == 9
    for number in range(1, 6):
        body = viewer.get(
            "/dashboard/members/", {"platform": "web", "sort": "name", "page": number}
        ).content.decode()
        ids = [int(part.split('"')[0]) for part in body.split('<tr data-member="')[1:]]
        assert ids == everyone[2 * (number - 1) : 2 * number]
        if 2 * number + 3 < 9:  # more than the cap past this page: not all counted
            assert f"page {number} of {number + 1}+" in body
            assert "next →" in body
        else:
            assert f"page {number} of 5<" in body
            assert ("next →" in body) == (number < 5)
    with CaptureQueriesContext(connection) as queries:
        viewer.get("/dashboard/members/", {"platform": "web", "sort": "name"})
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert any("LIMIT 6" in sql for sql in counts), counts  # 1 page of 2 + cap 3 + 1


def _search_people():
    """Members the word "zed" finds by each key of the search, and some it does not."""
    from accounts.models import Member

    found = [
        MemberFactory(username="zedkiller"),  # display name and username
        MemberFactory(platform="web", external_id="w-zed", username="quiet", email="a@zed.io"),
        MemberFactory(platform="web", external_id="zed", username="still"),  # platform id
    ]
    named = MemberFactory(username="plain")
    Member.objects.filter(pk=named.pk).update(display_name="Lazed Ann")
    found.append(named)
    for n, member in enumerate(found):
        ledger.award(member, [30, 5, 30, 12][n], reason="x", idempotency_key=f"zed-{n}")
    others = [MemberFactory(username=f"other{n}") for n in range(3)]
    return found, others


def test_a_search_that_finds_many_lists_exactly_what_the_union_of_lookups_finds(monkeypatch):
    """A search finding at least BROAD members is tested row by row (its pages stop once
    full, where the UNION of lookups found every match first): for every sort, filter and
    both roles, it lists the same members in the same order as the lookups' UNION, and
    no UNION is run for it."""
    from django.db import connection
    from django.http import QueryDict
    from django.test.utils import CaptureQueriesContext

    from dashboard import members_list

    _search_people()
    queries = ["zed", "ZED", "#1", "@zed", f"#{MemberFactory(username='bob9').pk}"]
    for q in queries:
        for sort in members_list.SORTS:
            for extra in ("", "&platform=web", "&premium=no", "&active=7"):
                for pii in (False, True):
                    listing = members_list.Listing.of(QueryDict(f"q={q}&sort={sort}{extra}"))
                    monkeypatch.setattr(members_list, "BROAD", 10**9)
                    narrow = [m.pk for m in listing.members(pii)]
                    listing = members_list.Listing.of(QueryDict(f"q={q}&sort={sort}{extra}"))
                    monkeypatch.setattr(members_list, "BROAD", 1)
                    with CaptureQueriesContext(connection) as ran:
                        broad = [m.pk for m in listing.members(pii)]
                    assert broad == narrow, (q, sort, extra, pii)
                    if narrow:  # found at least one: tested row by row
                        assert not any("UNION" in r["sql"] for r in ran), (q, sort, extra)
    viewer, staff = as_role("Viewer"), as_role("Moderator")
    monkeypatch.setattr(members_list, "BROAD", 10**9)
    few = [shown(client, q="zed", sort="balance") for client in (viewer, staff)]
    monkeypatch.setattr(members_list, "BROAD", 1)
    assert [shown(client, q="zed", sort="balance") for client in (viewer, staff)] == few
    assert len(few[0]) < len(few[1])  # personal data finds more


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_search_by_balance_walks_the_ranks_only_when_it_finds_many(monkeypatch):
    """Sorted by balance, a search that finds many walks the all-time board like any
    filter; one that finds few is the query (sorting a few rows beats reading up to
    WALK_MAX ranks). Both list the query's page."""
    from django.http import QueryDict

    from dashboard import members_list, ranks
    from tests.dashboard.test_cache_bumps import relay_past_the_fixtures

    monkeypatch.setattr(members_list, "PAGE", 2)
    monkeypatch.setattr(members_list, "WALK_CHUNK", 2)
    _search_people()
    relay_past_the_fixtures()
    ranks.build("points")
    for pii in (False, True):
        listing = members_list.Listing.of(QueryDict("q=zed&sort=balance"))
        expected = [m.pk for m in listing.members(pii)][:2]
        monkeypatch.setattr(members_list, "BROAD", 10**9)
        narrow = members_list.Listing.of(QueryDict("q=zed&sort=balance"))
        assert narrow.by_balance(None, 1, pii=pii) is None
        monkeypatch.setattr(members_list, "BROAD", 1)
        fresh = members_list.Listing.of(QueryDict("q=zed&sort=balance"))
        walked = fresh.by_balance(fresh.members(pii), 1, pii=pii)
        assert [m.pk for m in walked] == expected, pii

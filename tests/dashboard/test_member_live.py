"""The member page, live: its socket (`/ws/dashboard/?member=ID`) is told only that an
event named the member, and the page then fetches its blocks (`members/<id>/live`) with
its own session, so each role sees there what it sees on the page and nothing personal
ever travels the socket."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group
from django.test import Client

from accounts.actions import update_member
from dashboard import roles
from dashboard.scopes import member_ids
from ledger.actions import award
from tests.dashboard.test_stream import communicator, session_cookie
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import relay_caught_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

EMAIL = "secret-mailbox@example.org"


def staff_as(role: str, django_user_model):
    user = django_user_model.objects.create_user(
        f"live-{role.lower()}", f"{role.lower()}@example.org", "pw-x-1234", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def test_member_ids_names_every_member_an_event_names():
    assert member_ids({"member_id": 3, "referred_by": 4}) == {3, 4}
    assert member_ids({"postings": [{"member_id": 5}, {"member_id": None, "system": "x"}]}) == {5}
    assert member_ids({"member_ids": [6, 7], "placements": [{"member_id": 8}]}) == {6, 7, 8}
    assert member_ids({"seeds": [{"member_id": 9}]}) == {9}
    assert member_ids({"member_id": "10"}) == set()  # not an id
    assert member_ids(None) == set()


@pytest.mark.usefixtures("relay")
async def test_the_member_socket_is_told_of_its_members_events_only(staff):
    alice, bob = await database_sync_to_async(lambda: (MemberFactory(), MemberFactory()))()
    cookie = await database_sync_to_async(session_cookie)(staff)
    await relay_caught_up()
    comm = communicator(f"/ws/dashboard/?member={alice.pk}", cookie)
    connected, _ = await comm.connect()
    assert connected
    first = await comm.receive_from(timeout=5)  # on (re)connect: fetch the blocks again
    assert 'id="member-changed"' in first
    assert 'hx-swap-oob="true"' in first
    await database_sync_to_async(award)(
        bob, 5, currency="points", reason="not hers", idempotency_key="live-bob"
    )
    await relay_caught_up()
    assert await comm.receive_nothing(timeout=0.5)
    await database_sync_to_async(update_member)(alice, email=EMAIL)
    fragment = await comm.receive_from(timeout=5)
    assert f'data-member="{alice.pk}"' in fragment
    assert EMAIL not in fragment  # the news only, never the member's data
    await comm.disconnect()


async def test_a_bad_member_on_the_dashboard_socket_is_closed_with_4400(staff):
    cookie = await database_sync_to_async(session_cookie)(staff)
    comm = communicator("/ws/dashboard/?member=12a", cookie)
    await comm.connect()
    output = await comm.receive_output(timeout=5)
    while output["type"] != "websocket.close":
        output = await comm.receive_output(timeout=5)
    assert output["code"] == 4400


def test_the_live_blocks_show_what_the_role_may_see(django_user_model):
    member = MemberFactory()
    update_member(member, email=EMAIL)
    award(member, 70, currency="points", reason="stream giveaway", idempotency_key="live-1")
    url = f"/dashboard/members/{member.pk}/live?currency=points"
    assert Client().get(url).status_code == 302  # staff login first

    viewer, moderator = Client(), Client()
    viewer.force_login(staff_as(roles.VIEWER, django_user_model))
    moderator.force_login(staff_as(roles.MODERATOR, django_user_model))
    seen = viewer.get(url).content.decode()
    for block in ("summary", "wallets", "achievements", "subscription", "profile", "statement"):
        assert f'id="member-{block}" data-live-block hx-swap-oob="true"' in seen
    assert "stream giveaway" in seen
    assert EMAIL not in seen
    assert "hx-post" not in seen  # a Viewer presses nothing
    assert EMAIL in moderator.get(url).content.decode()
    assert "/live" not in seen  # the blocks only: the trigger stays on the page


def test_the_member_page_connects_and_asks_for_its_own_wallet_and_page(staff):
    member = MemberFactory()
    award(member, 70, currency="points", reason="one", idempotency_key="live-2")
    client = Client()
    client.force_login(staff)
    page = client.get(f"/dashboard/members/{member.pk}/?currency=points&before=99").content
    page = page.decode()
    assert f'ws-connect="/ws/dashboard/?member={member.pk}"' in page
    assert f'hx-get="/dashboard/members/{member.pk}/live?currency=points&amp;before=99"' in page
    assert 'id="member-changed"' in page
    # A control's answer keeps the trigger (the body is swapped whole).
    answer = client.post(
        f"/dashboard/members/{member.pk}/adjust",
        {"amount": "5", "reason": "r", "token": "tok-live-123", "currency": "points"}
        | {"direction": "award"},
    ).content.decode()
    assert f'hx-get="/dashboard/members/{member.pk}/live?currency=points"' in answer


async def test_the_member_socket_of_a_demoted_user_is_closed_by_the_recheck():
    from tests.dashboard.test_dashboard_socket import (
        RECHECK_WITHIN,
        SAME_ORIGIN,
        closed_with,
        dashboard,
        make_staff,
    )

    member = await database_sync_to_async(MemberFactory)()
    viewer, cookie = await make_staff("member-demoted")
    comm = dashboard(*SAME_ORIGIN, cookie, path=f"/ws/dashboard/?member={member.pk}")
    connected, _ = await comm.connect()
    assert connected
    assert 'id="member-changed"' in await comm.receive_from(timeout=5)
    await database_sync_to_async(viewer.groups.clear)()
    assert await closed_with(comm, timeout=RECHECK_WITHIN) == 4403


def test_the_live_blocks_need_the_dashboard_permission(django_user_model):
    member = MemberFactory()
    client = Client()
    no_role = django_user_model.objects.create_user("no-role", "n@x.org", "pw-x-1", is_staff=True)
    client.force_login(no_role)
    assert client.get(f"/dashboard/members/{member.pk}/live").status_code == 403


@pytest.mark.usefixtures("relay")
async def test_the_member_socket_hears_of_the_tournaments_the_member_plays_in(staff):
    """The page's "Tournaments played" changes with events that do not name the member
    (a status change): the socket knows the member's tournaments, those at connect and
    those they register for while the page is open, and nobody else's; another player's
    check-in in the same tournament changes nothing on the page and is not pushed."""
    from tournaments.actions import check_in, open_check_in, register, register_many
    from tournaments.models import Tournament

    def make():
        cup, other, later = TournamentFactory(), TournamentFactory(), TournamentFactory()
        alice, bob = MemberFactory(), MemberFactory()
        register(cup, alice)
        return alice, cup, other, later, register(cup, bob)

    alice, cup, other, later, bobs_seat = await database_sync_to_async(make)()
    cookie = await database_sync_to_async(session_cookie)(staff)
    await relay_caught_up()
    comm = communicator(f"/ws/dashboard/?member={alice.pk}", cookie)
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_from(timeout=5)  # the resync on connect

    await database_sync_to_async(open_check_in)(other)  # not hers
    await relay_caught_up()
    assert await comm.receive_nothing(timeout=0.5)
    await database_sync_to_async(open_check_in)(cup)  # hers: no member named in the event
    assert 'id="member-changed"' in await comm.receive_from(timeout=5)
    await database_sync_to_async(check_in)(bobs_seat)  # bob's, in her tournament
    await relay_caught_up()
    assert await comm.receive_nothing(timeout=0.5)

    await database_sync_to_async(register)(later, alice)  # names her
    assert 'id="member-changed"' in await comm.receive_from(timeout=5)
    await database_sync_to_async(open_check_in)(later)  # now hers too
    assert 'id="member-changed"' in await comm.receive_from(timeout=5)

    imported = await database_sync_to_async(TournamentFactory)()
    await relay_caught_up()
    assert await comm.receive_nothing(timeout=0.5)
    await database_sync_to_async(register_many)(imported, [alice])  # a batch names nobody
    assert 'id="member-changed"' in await comm.receive_from(timeout=5)
    await database_sync_to_async(open_check_in)(imported)  # so it counts as hers from now
    assert 'id="member-changed"' in await comm.receive_from(timeout=5)
    assert await database_sync_to_async(Tournament.objects.count)() == 4
    await comm.disconnect()

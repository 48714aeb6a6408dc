"""The tournament board: the dashboard page, its live fragment on `/ws/dashboard/`, and
the `tournament:<id>` stream scope with its board snapshots for the overlay."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from dashboard import actions as overlay
from dashboard import boards
from tests.dashboard.test_stream import (
    communicator,
    receive,
    receive_until,
    session_cookie,
)
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import relay_caught_up
from tournaments import actions as cup

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("relay"),  # events reach the sockets through the relay
]


def make_cup(players: int = 3, *, capacity: int = 2, name: str = "Spring Cup"):
    """A free tournament with `players` registered (over capacity: the rest wait)."""
    tournament = TournamentFactory(name=name, capacity=capacity, entry_fee=0)
    registrations = [
        cup.register(tournament, MemberFactory(username=f"{name.split()[0]}{i}"))
        for i in range(players)
    ]
    return tournament, registrations


def test_the_board_page_shows_counts_players_and_the_waitlist(staff):
    tournament, _ = make_cup(3, capacity=2)
    client = Client()
    assert client.get(f"/dashboard/tournaments/{tournament.pk}/").status_code == 302
    client.force_login(staff)
    page = client.get(f"/dashboard/tournaments/{tournament.pk}/").content.decode()
    assert 'ws-connect="/ws/dashboard/?tournament=' in page
    assert 'data-seated="2"' in page
    assert ">2/2<" in page
    assert 'data-waitlisted="1"' in page
    assert "Spring0" in page
    assert '<li value="1">Spring2</li>' in page
    listing = client.get("/dashboard/tournaments/").content.decode()
    assert f'href="/dashboard/tournaments/{tournament.pk}/"' in listing
    assert client.get("/dashboard/tournaments/999999/").status_code == 404


async def test_the_board_fragment_updates_as_players_check_in(staff):
    tournament, registrations = await database_sync_to_async(make_cup)(2, capacity=2)
    await database_sync_to_async(cup.open_check_in)(tournament)
    cookie = await database_sync_to_async(session_cookie)(staff)
    await relay_caught_up()  # the setup's events are not rendered again after `first`
    comm = communicator(f"/ws/dashboard/?tournament={tournament.pk}", cookie)
    await comm.connect()
    first = await comm.receive_from(timeout=5)
    assert 'id="tournament-board"' in first
    assert 'hx-swap-oob="true"' in first
    assert 'data-checked-in="0"' in first
    await database_sync_to_async(cup.check_in)(registrations[0])
    fragment = await comm.receive_from(timeout=5)
    assert 'data-checked-in="1"' in fragment
    assert "checked in</span>" in fragment
    await comm.disconnect()


async def test_a_bad_tournament_on_the_dashboard_socket_is_closed_with_4400(staff):
    cookie = await database_sync_to_async(session_cookie)(staff)
    comm = communicator("/ws/dashboard/?tournament=abc", cookie)
    await comm.connect()
    output = await comm.receive_output(timeout=5)
    while output["type"] != "websocket.close":
        output = await comm.receive_output(timeout=5)
    assert output["code"] == 4400


async def test_a_tournament_scope_streams_its_own_events_and_board_only():
    ours, _ = await database_sync_to_async(make_cup)(1, capacity=2, name="Ours Cup")
    other, _ = await database_sync_to_async(make_cup)(1, capacity=2, name="Other Cup")
    token = await database_sync_to_async(overlay.create_token)(f"tournament:{ours.pk}")
    await relay_caught_up()  # the setup's events are in the past, not live
    comm = communicator(f"/ws/stream/?token={token.token}&view=tournament")
    await comm.connect()
    await receive_until(comm, "hello")
    snapshot = await receive(comm)
    assert snapshot["type"] == "tournament"
    assert snapshot["board"]["id"] == ours.pk
    assert snapshot["board"]["seated"] == 1

    await database_sync_to_async(cup.register)(other, await database_sync_to_async(MemberFactory)())
    joined = await database_sync_to_async(MemberFactory)(username="Latecomer")
    await database_sync_to_async(cup.register)(ours, joined)
    # The event and the re-rendered board arrive (in either order); nothing of the other.
    events, board = [], None
    deadline = asyncio.get_running_loop().time() + 5
    while not events or board is None or board["seated"] != 2:
        assert asyncio.get_running_loop().time() < deadline, (events, board)
        msg = await receive(comm)
        if msg["type"] == "event":
            events.append(msg)
        elif msg["type"] == "tournament":
            board = msg["board"]
    assert [e["data"]["tournament_id"] for e in events] == [ours.pk]
    assert "Latecomer" in [p["name"] for p in board["players"]]
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


def test_the_tournament_overlay_page_needs_a_tournament_token():
    tournament, _ = make_cup(1)
    token = overlay.create_token(f"tournament:{tournament.pk}")
    page = Client().get(token.path)
    assert token.path.endswith("/tournament/")
    assert page.status_code == 200
    assert b"overlays/tournament.js" in page.content
    assert "&amp;view=tournament" in page.content.decode()
    leaderboard = overlay.create_token("leaderboard:points")
    wrong = leaderboard.path.replace("/leaderboard/", "/tournament/")
    assert Client().get(wrong).status_code == 404


def test_the_board_shows_the_bracket_with_byes_and_winners(staff):
    tournament, registrations = make_cup(3, capacity=4, name="Bracket Cup")
    cup.open_check_in(tournament)
    for registration in registrations:
        cup.check_in(registration)
    cup.close_check_in(tournament)
    matches = cup.generate_bracket(tournament)
    ready = next(m for m in matches if m.status == "ready")
    cup.record_result(ready, ready.home_id, "2-1")

    board = boards.tournament_board(tournament.pk)
    assert board["status"] == "in_progress"
    first, final = board["rounds"]
    assert [m["status"] for m in first["matches"]].count("bye") == 1
    played = next(m for m in first["matches"] if m["score"] == "2-1")
    assert played["winner"] == "home"
    assert played["home"] in final["matches"][0].values()
    client = Client()
    client.force_login(staff)
    page = client.get(f"/dashboard/tournaments/{tournament.pk}/").content.decode()
    assert "Round 2" in page
    assert '<div class="side won">' in page
    assert boards.tournament_board(999_999) is None

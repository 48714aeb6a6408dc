"""The story map page: the chapter graph as SVG with each choice's count, updated live
over /ws/dashboard/?story=ID as decisions arrive; a member's page shows their path."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from narrative.actions import make_choice, start_story
from narrative.demo import load_demo_story
from narrative.models import Choice
from tests.dashboard.test_stream import communicator, session_cookie
from tests.factories import MemberFactory
from tests.helpers import relay_caught_up

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("relay"),  # events reach the sockets through the relay
]


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_the_story_map_draws_every_chapter_ending_and_choice_with_counts(staff_client):
    story = load_demo_story()
    reader = MemberFactory()
    start_story(reader, story)
    row_out = Choice.objects.get(chapter__story=story, text="Row out to the wreck")
    make_choice(reader, row_out)

    page = staff_client.get(f"/dashboard/stories/{story.pk}/").content.decode()

    assert '<svg class="story-map"' in page
    assert page.count('class="node chapter"') == 6
    assert page.count('class="node ending"') == 5  # five distinct endings
    assert page.count('class="edge') == Choice.objects.filter(chapter__story=story).count()
    assert f'data-choice="{row_out.pk}" data-taken="1"' in page
    assert 'data-decisions="1"' in page
    assert "1 here" in page  # the reader is in chapter 2
    assert "50 points" in page  # chapter 4's minimum balance
    assert ">VIP<" in page  # chapter 6
    assert f'ws-connect="/ws/dashboard/?story={story.pk}"' in page
    assert "The Lighthouse Keeper" in staff_client.get("/dashboard/stories/").content.decode()


def test_unknown_story_is_404_and_staff_only(staff_client, client):
    assert staff_client.get("/dashboard/stories/999999/").status_code == 404
    assert client.get("/dashboard/stories/").status_code == 302  # to the login


def test_the_member_page_shows_path_and_relationships(staff_client):
    story = load_demo_story()
    reader = MemberFactory()
    start_story(reader, story)
    make_choice(reader, Choice.objects.get(chapter__story=story, text="Keep the lamp burning"))

    page = staff_client.get(f"/dashboard/members/{reader.pk}/").content.decode()

    assert "Keep the lamp burning" in page
    assert "chapter 3: The long night" in page
    assert 'data-level="5"' in page
    assert 'data-level="-5"' in page


async def test_a_decision_updates_the_open_story_map(staff):
    story = await database_sync_to_async(load_demo_story)()
    reader = await database_sync_to_async(MemberFactory)()
    await database_sync_to_async(start_story)(reader, story)
    row_out = await Choice.objects.aget(chapter__story=story, text="Row out to the wreck")
    cookie = await database_sync_to_async(session_cookie)(staff)
    await relay_caught_up()  # the setup's events are not rendered again after `first`
    comm = communicator(f"/ws/dashboard/?story={story.pk}", cookie)
    await comm.connect()
    first = await comm.receive_from(timeout=5)
    assert 'id="story-map"' in first
    assert 'data-decisions="0"' in first

    await database_sync_to_async(make_choice)(reader, row_out)

    pushed = await comm.receive_from(timeout=5)
    assert 'hx-swap-oob="true"' in pushed
    assert 'data-decisions="1"' in pushed
    assert f'data-choice="{row_out.pk}" data-taken="1"' in pushed
    await comm.disconnect()


async def test_a_bad_story_on_the_dashboard_socket_is_closed_with_4400(staff):
    cookie = await database_sync_to_async(session_cookie)(staff)
    comm = communicator("/ws/dashboard/?story=²", cookie)
    await comm.connect()
    output = await comm.receive_output(timeout=5)
    while output["type"] != "websocket.close":
        output = await comm.receive_output(timeout=5)
    assert output["code"] == 4400


def test_no_choice_count_is_hidden_under_a_box_and_no_two_choices_share_a_start(db):
    """Users saw counts covered by chapter boxes: each count sits just past its start, in
    the gap between columns, drawn after the boxes; each choice starts at its own point."""
    import re

    from dashboard.boards import NODE_H, NODE_W, story_board

    story = load_demo_story()
    board = story_board(story.pk)
    starts = set()
    for edge in board["edges"]:
        x, y = edge["label_x"], edge["label_y"]
        for node in board["nodes"]:
            inside = node["x"] - 2 <= x <= node["x"] + NODE_W and node["y"] <= y <= (
                node["y"] + NODE_H + 12
            )
            assert not inside, (edge["text"], node["title"])
        starts.add(re.match(r"M(\d+),(\d+)", edge["d"]).groups())
    assert len(starts) == len(board["edges"])

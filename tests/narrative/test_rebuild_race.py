"""A rebuild running while the member plays (PostgreSQL, two connections): it waits for
the choice in flight and then sees all of it, or the choice waits for it; either way the
state ends up as the decisions say."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction

from integrity.registry import all_checks
from integrity.runner import run_checks
from narrative.actions import make_choice, rebuild_member_state, start_story
from narrative.demo import load_demo_story
from narrative.models import Choice, Progress
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_rebuild_waiting_for_a_choice_in_flight_sees_all_of_it():
    story = load_demo_story()
    member = MemberFactory()
    start_story(member, story)
    row_out = Choice.objects.get(chapter__story=story, text="Row out to the wreck")
    claimed, errors = threading.Event(), []

    def choose():
        try:
            with transaction.atomic():
                make_choice(member, row_out)
                claimed.set()
                time.sleep(0.5)  # the rebuild queues behind our row locks meanwhile
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
            claimed.set()
        finally:
            connections.close_all()

    def rebuild():
        try:
            claimed.wait(5)
            rebuild_member_state(member)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=choose), threading.Thread(target=rebuild)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert errors == []
    assert list(
        Progress.objects.filter(member=member)
        .order_by("chapter__number")
        .values_list("chapter__number", "status")
    ) == [(1, "completed"), (2, "started")]
    names = [c.name for c in all_checks() if c.name.startswith("narrative.")]
    assert run_checks(names).ok

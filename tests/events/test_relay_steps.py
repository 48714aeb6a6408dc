"""The relay (`events.relay`, `manage.py run_relay`): the one way a committed event reaches
the screens. Here its steps, tried in this process: where it starts, the batches it
sends and in what order, the position it keeps, the events it waits for."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from channels.layers import get_channel_layer
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import events
from events import live
from events import relay as relay_module
from events.log import batched, register_handler, unregister_handler
from events.models import Event, RelayPosition
from events.relay import Relay
from tests.events.helpers import publish
from tests.events.test_settled import hold_event, open_writing_transaction

pytestmark = pytest.mark.django_db(transaction=True)


class Collected:
    """What a relay delivered, as the embedded hub would receive it."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    def __call__(self, messages: list[dict]) -> None:
        self.messages.extend(messages)

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.messages]


@pytest.fixture
def batches():
    """A batched handler recording each batch it is given (and each single event)."""
    seen = {"batches": [], "singles": [], "fail": False}

    def many(batch):
        seen["batches"].append([e.seq for e in batch])
        if seen["fail"]:
            raise ConnectionError("the cache is away")

    @batched(many)
    def handler(event):
        seen["singles"].append((threading.current_thread().name, event.seq))

    register_handler(handler)
    yield seen
    unregister_handler(handler)


# --- the steps -------------------------------------------------------------------------------


def test_without_a_position_the_relay_starts_at_the_newest_event_not_the_beginning():
    RelayPosition.objects.all().delete()
    old = publish(2)
    relay = Relay(deliver=Collected())
    assert relay.start() == old[-1]
    assert RelayPosition.objects.get(name="default").seq == old[-1]


def test_a_step_sends_new_events_in_seq_order_after_one_batch_handler_call(batches):
    delivered = Collected()
    relay = Relay(deliver=delivered)
    start = relay.start()
    seqs = publish(3)
    assert relay.step() == 3
    assert delivered.seqs == seqs
    # Each message names the one sent before it, so a hub can tell a loss from a rollback.
    assert [m["prev"] for m in delivered.messages] == [start, *seqs[:-1]]
    assert batches["batches"] == [seqs]
    assert relay.position == seqs[-1]
    assert RelayPosition.objects.get(name="default").seq == seqs[-1]
    assert relay.step() == 0  # nothing new: nothing sent, nothing handled
    assert batches["batches"] == [seqs]


def test_the_writer_runs_the_handlers_after_commit_in_its_own_thread_and_nothing_more(batches):
    with transaction.atomic():
        seq = events.publish("test.relayed", {}).seq
        assert batches["singles"] == []  # not before commit
    assert batches["singles"] == [(threading.current_thread().name, seq)]
    assert batches["batches"] == []  # the relay's part is the relay's


def test_a_batch_whose_handler_fails_is_not_sent_and_is_tried_again(batches):
    delivered = Collected()
    relay = Relay(deliver=delivered)
    start = relay.start()
    seqs = publish(2)
    batches["fail"] = True
    with pytest.raises(relay_module.HandlerFailed):
        relay.step()
    assert delivered.seqs == []
    assert RelayPosition.objects.get(name="default").seq == start
    batches["fail"] = False
    assert relay.step() == 2
    assert delivered.seqs == seqs


def test_the_position_cannot_be_negative():
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_relayposition (name, seq, moved_at) VALUES ('x', -1, %s)",
            [connection.ops.adapt_datetimefield_value(timezone.now())],
        )


@pytest.mark.postgres
def test_a_seq_still_uncommitted_after_the_settle_wait_is_sent_when_it_commits():
    delivered = Collected()
    relay = Relay(deliver=delivered)
    relay.settle_timeout = 0.2
    relay.start()
    other = open_writing_transaction(connection.settings_dict["NAME"])
    try:
        held = hold_event(other)
        (after,) = publish(1)
        assert relay.step() == 1
        assert delivered.seqs == [after]
        assert held in relay.holes
        other.commit()
    finally:
        other.close()
    assert relay.step() == 1
    assert delivered.seqs == [after, held]
    assert "prev" not in delivered.messages[-1]  # late: below what hubs delivered
    assert held not in relay.holes


@pytest.mark.postgres
def test_with_more_seqs_missing_than_it_watches_the_relay_watches_the_newest():
    delivered = Collected()
    relay = Relay(deliver=delivered)
    relay.settle_timeout = 0.2
    relay.start()
    relay.position -= relay_module.MAX_HOLES + 50  # far behind: a long run below is missing
    other = open_writing_transaction(connection.settings_dict["NAME"])
    try:
        held = hold_event(other)
        (after,) = publish(1)
        assert relay.step() == 1
        assert held in relay.holes
        assert len(relay.holes) == relay_module.MAX_HOLES
        other.commit()
    finally:
        other.close()
    assert relay.step() == 1
    assert delivered.seqs == [after, held]


@pytest.mark.postgres
def test_a_seq_that_commits_in_a_gap_during_the_settle_wait_goes_in_the_same_batch_in_order():
    delivered = Collected()
    relay = Relay(deliver=delivered)
    relay.settle_timeout = 10
    relay.start()
    other = open_writing_transaction(connection.settings_dict["NAME"])
    try:
        held = hold_event(other)
        (after,) = publish(1)
        committer = threading.Timer(0.3, other.commit)
        committer.start()
        assert relay.step() == 2  # waited for the gap's transaction, then read it
        committer.join()
    finally:
        other.close()
    assert delivered.seqs == [held, after]
    assert relay.holes == {}


@pytest.mark.postgres
def test_a_batch_without_a_gap_is_sent_without_waiting_for_running_transactions():
    delivered = Collected()
    relay = Relay(deliver=delivered)
    relay.settle_timeout = 5
    publish(1)  # the position starts at it (seqs of emptied tables are not reused)
    relay.start()
    # A transaction that wrote, still running, but holding no event: nothing to wait for.
    other = open_writing_transaction(connection.settings_dict["NAME"])
    try:
        seqs = publish(3)
        started = time.monotonic()
        assert relay.step() == 3
        assert time.monotonic() - started < 2.0
    finally:
        other.close()
    assert delivered.seqs == seqs
    assert relay.holes == {}


def test_a_long_run_of_rolled_back_seqs_does_not_stop_the_relay():
    delivered = Collected()
    relay = Relay(deliver=delivered)
    start = relay.start()
    far = start + relay_module.WINDOW + 1_000  # past what one read looks ahead
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_event (seq, kind, actor_id, subject, data, created_at)"
            " VALUES (%s, 'test.far', NULL, '', '{}', %s)",
            [far, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
    assert relay.step() == 1
    assert delivered.seqs == [far]
    assert relay.position == far


@pytest.mark.postgres
def test_one_relay_leads_per_database_and_a_standby_takes_over_when_it_lets_go():
    first = Relay()
    assert first.lead()
    results = {}

    def standby():
        other = Relay()
        results["while_held"] = other.lead()
        results["waiting"] = other
        connection.close()

    thread = threading.Thread(target=standby)
    thread.start()
    thread.join()
    assert results["while_held"] is False
    first.release()

    def takeover():
        results["after"] = Relay().lead()
        connection.close()  # ends the session: the lock goes with it

    thread = threading.Thread(target=takeover)
    thread.start()
    thread.join()
    assert results["after"] is True


@pytest.mark.postgres
def test_with_nothing_else_running_waiting_for_settled_transactions_is_one_prepared_query():
    connection.close()  # a fresh connection: nothing prepared on it yet
    assert live.wait_settled(timeout=1.0) is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert len(statements) == 1  # no poll ran
    assert "pg_stat_get_activity" in statements[0]


@pytest.mark.redis
def test_direct_sends_are_what_the_layers_group_send_sends():
    """What the relay writes to Redis pub/sub reaches a group member as the message
    `message_for` makes, as the layer's own group_send would deliver it."""
    layer = get_channel_layer()
    loop = asyncio.new_event_loop()
    direct = live.DirectPubSub.for_layer(layer, loop)
    assert direct is not None, "Concord configures the pub/sub layer on one Redis"
    event = Event(
        seq=10**15 + int(time.time() * 1000) % 10**9,  # far above any seq another test sends
        kind="test.direct",
        subject="thing:1",
        data={"n": 1, "who": "ада"},
        created_at=timezone.now(),
    )
    message = live.message_for(event, prev=event.seq - 3)

    async def receive_both() -> list[dict]:
        channel = await layer.new_channel()
        await layer.group_add(live.GROUP, channel)
        try:
            await asyncio.get_running_loop().run_in_executor(None, direct.send, [message])
            await layer.group_send(live.GROUP, message)
            got: list[dict] = []
            while len(got) < 2:  # other processes may broadcast on the same group
                received = await asyncio.wait_for(layer.receive(channel), timeout=5)
                if received.get("seq") == event.seq:
                    got.append(received)
            return got
        finally:
            await layer.group_discard(live.GROUP, channel)

    try:
        direct_message, layer_message = asyncio.run(receive_both())
    finally:
        direct.close()
        loop.close()
    assert direct_message == layer_message == message

"""The publisher thread's part of post-commit work: batched handlers (the cache bumps) run
there once per batch before the broadcast; the writer only queues; what reaches the
channel layer is what its own group_send would have sent."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

import events
from events import live
from events.actions import batched, register_handler, unregister_handler
from events.models import Event
from tests.events.test_settled import open_writing_transaction

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """A batched handler that notes each call: which thread, which seqs, and whether any of
    them was already marked published (it must run before the broadcast and the mark)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.batches: list[tuple[str, list[int], bool]] = []
        self.singles: list[tuple[str, int]] = []
        self.handled: set[int] = set()

        def many(batch):
            seqs = [e.seq for e in batch]
            marked = Event.objects.filter(seq__in=seqs, published_at__isnull=False).exists()
            self.batches.append((threading.current_thread().name, seqs, marked))
            self.handled.update(seqs)
            if self.fail:
                raise ConnectionError("the cache is away")

        @batched(many)
        def handler(event):
            self.singles.append((threading.current_thread().name, event.seq))

        self.handler = handler


@pytest.fixture
def recorder():
    made: list[Recorder] = []

    def make(fail: bool = False) -> Recorder:
        rec = Recorder(fail)
        register_handler(rec.handler)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        unregister_handler(rec.handler)
    live.publisher.flush()


def publish_in_one_transaction(count: int) -> list[int]:
    with transaction.atomic():
        return [events.publish("test.batched", {"n": n}).seq for n in range(count)]


def test_a_batched_handler_runs_in_the_publisher_before_the_broadcast_not_in_the_writer(
    recorder,
):
    rec = recorder()
    seqs = publish_in_one_transaction(3)
    assert rec.singles == []  # the writer only queued the events
    assert live.publisher.flush()
    assert all(name == "concord-events-publisher" for name, _, _ in rec.batches)
    assert [seq for _, batch, _ in rec.batches for seq in batch] == seqs  # each once, in order
    assert not any(marked for _, _, marked in rec.batches)
    assert Event.objects.filter(seq__in=seqs, published_at__isnull=True).count() == 0


def test_a_failing_batched_handler_leaves_the_batch_for_the_relay(recorder):
    rec = recorder(fail=True)
    seqs = publish_in_one_transaction(2)
    assert live.publisher.flush()
    assert [seq for _, batch, _ in rec.batches for seq in batch] == seqs
    assert Event.objects.filter(seq__in=seqs, published_at__isnull=True).count() == 2

    rec.fail = False
    assert live.relay(min_age=0) == 2
    # The relay runs the handler per event, as it runs every other handler.
    assert [seq for _, seq in rec.singles] == seqs
    assert Event.objects.filter(seq__in=seqs, published_at__isnull=True).count() == 0


def test_with_the_live_layer_off_a_batched_handler_runs_per_event_in_the_writer(recorder, settings):
    settings.CONCORD_LIVE = False
    rec = recorder()
    seqs = publish_in_one_transaction(2)
    me = threading.current_thread().name
    assert rec.singles == [(me, seq) for seq in seqs]
    assert rec.batches == []
    assert Event.objects.filter(seq__in=seqs, published_at__isnull=True).count() == 0


def test_a_read_in_the_writing_process_waits_for_its_queued_batch_handlers(recorder):
    release = threading.Event()

    @batched(lambda batch: release.wait(5))
    def slow(event):
        pass

    register_handler(slow)
    try:
        publish_in_one_transaction(1)
        assert live.publisher.wait_handled(0.2) is False
        threading.Timer(0.2, release.set).start()
        started = time.monotonic()
        assert live.publisher.wait_handled(5) is True
        assert time.monotonic() - started >= 0.1
    finally:
        release.set()
        unregister_handler(slow)
        live.publisher.flush()


@pytest.mark.postgres
def test_a_stuck_transaction_holds_broadcasts_back_but_not_the_next_events_handlers(recorder):
    rec = recorder()
    other = open_writing_transaction(connection.settings_dict["NAME"])
    try:
        [first] = publish_in_one_transaction(1)
        time.sleep(0.1)  # its batch now waits for `other` (up to SETTLE_TIMEOUT)
        [second] = publish_in_one_transaction(1)
        deadline = time.monotonic() + 1.0
        while second not in rec.handled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert {first, second} <= rec.handled
        # ... and neither is broadcast (nor so marked) while `other` runs.
        assert not Event.objects.filter(seq__in=[first, second], published_at__isnull=False)
    finally:
        other.rollback()
        other.close()
    assert live.publisher.flush()
    assert Event.objects.filter(seq__in=[first, second], published_at__isnull=True).count() == 0


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
    """What the publisher writes to Redis pub/sub reaches a group member as the message
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

    async def receive_both() -> list[dict]:
        channel = await layer.new_channel()
        await layer.group_add(live.GROUP, channel)
        try:
            await asyncio.get_running_loop().run_in_executor(None, direct.send, [event])
            await layer.group_send(live.GROUP, live.message_for(event))
            got: list[dict] = []
            while len(got) < 2:  # other processes may broadcast on the same group
                message = await asyncio.wait_for(layer.receive(channel), timeout=5)
                if message.get("seq") == event.seq:
                    got.append(message)
            return got
        finally:
            await layer.group_discard(live.GROUP, channel)

    try:
        direct_message, layer_message = asyncio.run(receive_both())
    finally:
        direct.close()
        loop.close()
    assert direct_message == layer_message == live.message_for(event)

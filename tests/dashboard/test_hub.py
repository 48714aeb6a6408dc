"""The hub's ordering: events reach subscribers in seq order, once, whatever order the
channel layer brings them in; what the layer lost is read from the log, and a seq the
relay says it did not send (rolled back) costs no read at all."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction

import events
from dashboard.hub import Hub
from dashboard.scopes import Scope
from events import live
from events.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _ordered_events_are_public(monkeypatch):
    """The hub hands subscribers only events with a public projection
    (`dashboard.public`): make this file's test kind one, shown as written."""
    from dashboard import public

    monkeypatch.setitem(public.PROJECTORS, "test.ordered", lambda data: data)


class Recorder:
    """A subscriber that records what the hub pushes (the consumers' interface)."""

    token_id = None
    views = frozenset()

    def __init__(self, name: str = "recorder") -> None:
        self.connection_id = name
        self.seqs: list[int] = []

    def wants(self, msg) -> bool:
        return Scope.parse("events").matches(msg["kind"], msg["data"])

    def views_touched(self, msg) -> set:
        return set()

    async def push_many(self, items) -> None:
        self.seqs.extend(item.seq for item in items)


def write(n: int) -> list[Event]:
    written = []
    for i in range(n):
        with transaction.atomic():
            written.append(events.publish("test.ordered", {"i": i}))
    return written


async def started_hub() -> tuple[Hub, Recorder]:
    """A hub fed only by the test, in the order the test chooses, that starts from the
    log's latest seq (one event is written first: the tests before emptied the table but
    not its sequence)."""
    await database_sync_to_async(write)(1)
    hub = Hub(listen=False)
    recorder = Recorder()
    await hub.subscribe(recorder)
    return hub, recorder


async def test_out_of_order_arrivals_are_delivered_in_seq_order_once():
    hub, recorder = await started_hub()
    rows = await database_sync_to_async(write)(4)
    messages = [live.message_for(e) for e in rows]
    # The layer brings them shuffled and one of them twice.
    for index in (2, 0, 3, 0, 1):
        await hub._incoming(messages[index])
    await asyncio.sleep(0.01)
    assert recorder.seqs == [m["seq"] for m in messages]


async def test_a_message_the_layer_lost_is_read_from_the_log():
    hub, recorder = await started_hub()
    rows = await database_sync_to_async(write)(3)
    prev = [hub.last, rows[0].seq, rows[1].seq]
    messages = [live.message_for(e, prev=p) for e, p in zip(rows, prev, strict=True)]
    # The middle one's message is lost (Redis restarted); the next names it as its prev.
    await hub._incoming(messages[0])
    await hub._incoming(messages[2])
    await asyncio.sleep(0.3)  # the next flushes (the hub sends in batches)
    assert recorder.seqs == [m["seq"] for m in messages]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite hands a rolled-back rowid out again: no gap to wait for",
)
async def test_a_rolled_back_seq_does_not_hold_later_events_back(monkeypatch):
    from dashboard import hub as hub_module

    reads = []
    real = hub_module._events_between
    monkeypatch.setattr(
        hub_module, "_events_between", lambda *args: reads.append(args) or real(*args)
    )
    hub, recorder = await started_hub()

    def write_with_a_rollback():
        first = write(1)[0]
        with pytest.raises(RuntimeError), transaction.atomic():
            events.publish("test.ordered", {"rolled": "back"})
            raise RuntimeError("the action failed")
        return first, write(1)[0]

    first, last = await database_sync_to_async(write_with_a_rollback)()
    assert last.seq > first.seq + 1  # the rolled-back insert used a seq
    # As the relay sends them: `last` names `first` as the one sent before it.
    await hub._incoming(live.message_for(first, prev=first.seq - 1))
    await hub._incoming(live.message_for(last, prev=first.seq))
    await asyncio.sleep(0.1)
    assert recorder.seqs == [first.seq, last.seq]
    assert reads == []  # no wait, no read of the log

"""`GET /api/v1/events?after=SEQ`: the event log for bots that cannot hold a socket.

The same scopes (`dashboard.scopes`) and the same order (seq) as /ws/stream/, and the same
public projection of each event (`dashboard.public`: what a token stream may see; a kind
without one is never sent). Only settled events are answered: the top seq is read, then
every transaction running at that moment is waited for (`events.live.running_here`,
`still_running`: what the relay's `wait_settled` waits for), so no event can later
appear below a seq already answered — a poller never misses one. With nothing new it
waits (long-poll, up to `wait` seconds), checking twice a second. Every wait is an
`asyncio.sleep` (the handler is async): a poll holds no thread, and the process's one
thread for synchronous work only runs its short queries. `next_after` is what to send next time
(it moves past events outside the scope too)."""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from api.auth import scope
from api.problems import Problem
from dashboard import public
from dashboard.scopes import InvalidOverlayScope, Scope
from events import live
from events.models import Event

router = Router(tags=["events"])
PAGE_MAX = 500
POLL_EVERY = 0.5
SETTLE_TIMEOUT = 2.0  # as the relay's


class EventOut(Schema):
    seq: int
    kind: str
    at: str | None
    data: dict


class EventsOut(Schema):
    events: list[EventOut]
    next_after: int


class EventsQuery(Schema):
    after: int = Field(0, ge=0, le=2**63 - 1)
    scope: str = Field("events", max_length=60)
    wait: int = Field(0, ge=0, le=60)
    limit: int = Field(100, ge=1, le=PAGE_MAX)


def _top_and_running() -> tuple[int, list[int]]:
    top = Event.objects.aggregate(top=Max("seq"))["top"] or 0
    return top, live.running_here()


def read_upto(stream: Scope, after: int, top: int, limit: int) -> tuple[list[dict], int]:
    """Events of `stream` in (after, top], public projections, and the next `after`."""
    rows = list(
        Event.objects.filter(
            stream.q(), kind__in=sorted(public.PROJECTORS), seq__gt=after, seq__lte=top
        ).order_by("seq")[:limit]
    )
    answer = []
    for event in rows:
        message = live.message_for(event)
        data = public.project(event.kind, message["data"])
        if data is not None:
            answer.append({"seq": event.seq, "kind": event.kind, "at": message["at"], "data": data})
    next_after = rows[-1].seq if len(rows) == limit else top
    return answer, next_after


async def settled_top(after: int) -> int | None:
    """The top seq once every transaction running when it was read has ended; None if
    there is nothing above `after`, or one still runs after SETTLE_TIMEOUT."""
    top, running = await sync_to_async(_top_and_running)()
    if top <= after:
        return None
    deadline = time.monotonic() + SETTLE_TIMEOUT
    delay = 0.002
    while running and await sync_to_async(live.still_running)(running):
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return top


@router.get(
    "",
    auth=scope("events:read"),
    response=EventsOut,
    summary="Events after a seq, in seq order (long-poll with wait=seconds)",
)
async def events(request: HttpRequest, q: Query[EventsQuery]):
    try:
        stream = Scope.parse(q.scope)
    except InvalidOverlayScope as exc:
        raise Problem(422, "invalid_scope", str(exc)) from None
    deadline = time.monotonic() + min(q.wait, settings.API_EVENTS_MAX_WAIT)
    after = q.after
    while True:
        top = await settled_top(after)
        found = []
        if top is not None:
            found, after = await sync_to_async(read_upto)(stream, after, top, q.limit)
        if found or time.monotonic() >= deadline:
            return {"events": found, "next_after": after}
        await asyncio.sleep(POLL_EVERY)

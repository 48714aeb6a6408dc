"""What a stream client does to probe `/ws/stream/` for abuse, shared by bench/abuse.py
and its test (tests/dashboard/test_stream_abuse.py): the two payloads an abuser sends, and
reading a stream up to its hello."""

from __future__ import annotations

import json

DEEP = "[" * 100_000  # nesting that would exhaust a recursive JSON parser
HUGE_ACK = '{"type":"ack","latency_ms":1' + "0" * 400 + "}"  # a number too long to parse


async def hello(ws) -> dict:
    """The hello message of the stream `ws` (pings before it are skipped)."""
    while (msg := json.loads(await ws.recv()))["type"] != "hello":
        pass
    return msg


async def replay_from_0(url: str) -> tuple[int, int | None]:
    """Open the stream at `url` from seq 0 and count the events replayed before its
    hello: (events, close code, or None if it said hello)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    events = 0
    async with connect(url + "&after=0", proxy=None, max_queue=None) as ws:
        try:
            while (kind := json.loads(await ws.recv())["type"]) != "hello":
                events += kind == "event"  # pings come meanwhile
        except ConnectionClosed as closed:
            return events, closed.rcvd.code if closed.rcvd else None
    return events, None

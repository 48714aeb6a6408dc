"""bench/wsclient.py, the live benchmark's websocket client, against real servers: the
`websockets` library's (a maintained RFC 6455 implementation) for what a correct server
does, and a raw socket written here for what a broken one does."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import multiprocessing
import socket
import threading
import time
from http import HTTPStatus

import pytest
import stream_events
import wsclient
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

pytestmark = pytest.mark.timeout(60)

HELLO = json.dumps({"type": "hello", "seq": 41}, separators=(",", ":"))


@pytest.fixture(autouse=True)
def fresh_reading():
    """Each test reads its events afresh (what a process read is remembered)."""
    stream_events.reset()
    yield
    stream_events.reset()


def event(seq: int, transfer_id: int, *, reason: str = "bench") -> str:
    """An event as the hub writes it to a token stream (`dashboard.hub.stream_text`)."""
    from dashboard.hub import stream_text

    return stream_text(
        {
            "seq": seq,
            "kind": "ledger.transfer_posted",
            "at": "2026-12-06T10:00:00.000001Z",
            "data": {
                "transfer_id": transfer_id,
                "kind": "bonus",
                "currency": "points",
                "reason": reason,
                "postings": [{"member_id": 7, "amount": 5}],
            },
        }
    )


@contextlib.contextmanager
def websocket_server(handler, **options):
    """A `websockets` server on a free port, serving `handler` in threads; yields the port."""
    with serve(handler, "127.0.0.1", 0, compression=None, **options) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.socket.getsockname()[1]
        finally:
            server.shutdown()
            thread.join(10)


@contextlib.contextmanager
def clients_of(port: int):
    """The client's connection set for `port`, with the pipe its loop also watches."""
    parent, child = multiprocessing.Pipe()
    clients = wsclient.Clients(
        f"ws://127.0.0.1:{port}/ws/stream/?token=t&after=0", f"http://127.0.0.1:{port}", child
    )
    try:
        yield clients, parent
    finally:
        clients.close()
        parent.close()
        child.close()


def poll_until(clients, done, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the client did not get there in time"
        clients.poll(0.05)


def hello_then(*messages, then=None):
    """A handler: hello, the messages (a list: one fragmented message), then `then(ws)`
    or wait for the client to close."""

    def handler(ws):
        ws.send(HELLO)
        for message in messages:
            ws.send(message)
        if then is not None:
            then(ws)
        with contextlib.suppress(ConnectionClosed):
            for _ in ws:
                pass

    return handler


def test_each_connection_says_hello_and_records_the_transfers_it_receives():
    events = [event(100 + i, 500 + i) for i in range(5)]
    with websocket_server(hello_then(*events)) as port, clients_of(port) as (clients, _):
        opened = clients.open(3)
        poll_until(clients, lambda: all(len(c.seqs) == 5 for c in opened))
    for c in opened:
        assert c.failed is None
        assert c.hello == {"type": "hello", "seq": 41}
        assert list(c.seqs) == [100, 101, 102, 103, 104]
        assert list(c.tids) == [500, 501, 502, 503, 504]
        assert all(t > 0 for t in c.times)
        assert c.other == 0
    assert set(clients.connections) == set(opened)  # in the order they opened


def test_the_fast_reading_agrees_with_json_on_what_the_hub_writes():
    for text, expected in (
        (event(7, 9), (7, 9)),
        (event(12, 345, reason='{"transfer_id":1,"seq":2}'), (12, 345)),
    ):
        assert stream_events.read_event(text.encode()) == expected
        assert stream_events.parse_json_event(json.loads(text)) == expected


def test_a_disagreement_between_the_fast_reading_and_json_fails_the_run():
    misleading = (
        b'{"type":"event","seq":7,"kind":"ledger.transfer_posted","at":"x",'
        b'"data":{"origin":{"transfer_id":1},"transfer_id":2}}'
    )
    fast = stream_events.read_event(misleading)
    assert fast == (7, 1)
    with pytest.raises(stream_events.MismatchError):
        stream_events.learned(misleading, fast)


def test_other_kinds_and_other_messages_are_counted_not_recorded():
    other_kind = json.dumps(
        {"type": "event", "seq": 3, "kind": "tournament.created", "at": "x", "data": {}},
        separators=(",", ":"),
    )
    with (
        websocket_server(
            hello_then(other_kind, '{"type":"ping"}', "not json", b"\x00\x01")
        ) as port,
        clients_of(port) as (clients, _),
    ):
        (c,) = clients.open(1)
        poll_until(clients, lambda: c.other == 4)
    assert list(c.seqs) == []


def test_long_and_fragmented_messages_are_read_whole():
    medium = event(1, 11, reason="m" * 300)  # 16-bit length
    long = event(2, 12, reason="l" * 70_000)  # 64-bit length
    fragmented = event(3, 13)
    pieces = [fragmented[:10], fragmented[10:40], fragmented[40:]]
    with (
        websocket_server(hello_then(medium, long, pieces)) as port,
        clients_of(port) as (clients, _),
    ):
        (c,) = clients.open(1)
        poll_until(clients, lambda: len(c.seqs) == 3)
    assert list(c.tids) == [11, 12, 13]


def test_serve_reads_until_the_parent_writes_then_stops():
    events = [event(200 + i, 600 + i) for i in range(20)]
    with websocket_server(hello_then(*events)) as port, clients_of(port) as (clients, parent):
        opened = clients.open(2)
        timer = threading.Timer(0.5, parent.send, (("stop", {"commits": 1}),))
        timer.start()
        clients.serve()
        timer.join()
    assert clients.message == ("stop", {"commits": 1})
    assert [len(c.seqs) for c in opened] == [20, 20]


def test_pings_are_answered_and_the_close_handshake_completes():
    seen: dict = {}

    def then(ws):
        seen["pong"] = ws.ping(b"are you there").wait(5)

    def handler(ws):
        try:
            hello_then(then=then)(ws)
        finally:
            seen["close code"] = ws.close_code

    with websocket_server(handler) as port, clients_of(port) as (clients, _):
        (c,) = clients.open(1)
        poll_until(clients, lambda: "pong" in seen)
        clients.close()
        deadline = time.monotonic() + 5
        while "close code" not in seen and time.monotonic() < deadline:
            time.sleep(0.01)
    assert seen == {"pong": True, "close code": 1000}
    assert c.state == wsclient.DONE
    assert c.closed is None  # we ended it


def test_a_connection_the_server_closes_says_why():
    with (
        websocket_server(hello_then(then=lambda ws: ws.close(4001, "bye"))) as port,
        clients_of(port) as (clients, _),
    ):
        (c,) = clients.open(1)
        poll_until(clients, lambda: c.state == wsclient.DONE)
    assert c.closed == "closed by server: code 4001"
    assert c.failed is None


def test_a_rejected_or_refused_handshake_fails_the_connection():
    def forbid(connection, request):
        return connection.respond(HTTPStatus.FORBIDDEN, "no\n")

    with (
        websocket_server(hello_then(), process_request=forbid) as port,
        clients_of(port) as (clients, _),
    ):
        (c,) = clients.open(1)
    assert c.failed.startswith(
        "handshake: ValueError: server rejected WebSocket connection: HTTP 403"
    )

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with clients_of(port) as (clients, _):
        (c,) = clients.open(1)
    assert c.failed.startswith("handshake: ConnectionRefusedError")


# --- a broken server ----------------------------------------------------------------------


@contextlib.contextmanager
def raw_server(then, *, accept: str | None = None):
    """One connection over a plain socket: the handshake answered (with `accept`, else the
    right key) and hello, then `then(conn)` writes what it wants; what the client sends
    next is kept and the connection closed. Yields (port, what the client sent)."""
    listener = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def run():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            right = base64.b64encode(hashlib.sha1(key + wsclient.WS_GUID).digest()).decode()
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + (accept or right).encode()
                + b"\r\n\r\n"
                + bytes((0x81, len(HELLO)))
                + HELLO.encode()
            )
            then(conn)
            with contextlib.suppress(OSError):
                received.extend(conn.recv(4096))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        thread.join(15)
        listener.close()


def close_code(sent: bytes) -> int:
    """The code of the masked close frame a client sent."""
    assert sent[0] == 0x88
    assert sent[1] & 0x80
    mask, payload = sent[2:6], sent[6 : 6 + (sent[1] & 0x7F)]
    return int.from_bytes(bytes(b ^ mask[i % 4] for i, b in enumerate(payload))[:2], "big")


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (bytes((0x81, 0x82)) + b"\x00\x00\x00\x00{}", "masked frame from the server"),
        (bytes((0xC1, 2)) + b"{}", "reserved bits set (no extension was negotiated)"),
        (bytes((0x80, 2)) + b"{}", "continuation frame without a message"),
        (bytes((0x83, 2)) + b"{}", "unknown opcode 3"),
        (bytes((0x09, 2)) + b"{}", "fragmented or long control frame"),
    ],
)
def test_a_server_breaking_the_protocol_is_answered_with_1002(frame, why):
    with (
        raw_server(lambda conn: conn.sendall(frame)) as (port, sent),
        clients_of(port) as (
            clients,
            _,
        ),
    ):
        (c,) = clients.open(1)
        poll_until(clients, lambda: c.state == wsclient.DONE)
    assert c.hello == {"type": "hello", "seq": 41}
    assert c.closed == f"protocol error (1002): {why}"
    assert close_code(bytes(sent)) == 1002


def test_frames_split_anywhere_across_reads_are_put_back_together():
    texts = [event(300 + i, 700 + i, reason="x" * 200).encode() for i in range(3)]
    frames = b"".join(bytes((0x81, 126)) + len(t).to_bytes(2, "big") + t for t in texts)

    def in_pieces(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for cut in range(0, len(frames), 97):  # cuts headers and payloads alike
            conn.sendall(frames[cut : cut + 97])
            time.sleep(0.01)

    with raw_server(in_pieces) as (port, sent), clients_of(port) as (clients, _):
        (c,) = clients.open(1)
        poll_until(clients, lambda: len(c.seqs) == 3)
    assert list(c.tids) == [700, 701, 702]
    assert close_code(bytes(sent)) == 1000


def test_a_wrong_accept_key_fails_the_handshake():
    with (
        raw_server(lambda conn: None, accept="d3Jvbmc=") as (port, _),
        clients_of(port) as (
            clients,
            _,
        ),
    ):
        (c,) = clients.open(1)
    assert c.failed == "handshake: ValueError: Sec-WebSocket-Accept 'd3Jvbmc=' is wrong"

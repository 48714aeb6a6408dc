"""The live benchmark's websocket client: many connections to `/ws/stream/` in one
process, each recording the events it receives and when.

A lean client of its own (RFC 6455, client side, no extensions, ws:// only): non-blocking
sockets and one epoll loop per process (`Clients`), which reads what is ready at most
every TICK (a wakeup costs ~20 us of CPU on a small VM, a read ~4 us, a message in it well
under 1). Frames are parsed as the bytes come; an event's fields are read once per
process (`stream_events`). Why not a library: the `websockets` library's asyncio client
cost ~19 us of CPU per received message, which at the target's 100,000 messages/s is two
cores, more than the machine has for daphne and the clients together; its sans-I/O
protocol alone (no sockets, no JSON) costs ~3.5 us per message (websockets 17.4), and
every connection would still parse every message. This client costs 1.3-4.4 us per
message, most of it the kernel's reads.

A connection records, per event, its seq, transfer id and `time.time()` at the read that
brought it (`seqs`, `tids`, `times`), the stream's `hello`, a count of `other` messages,
why it ended while open (`closed`) and why it never said hello (`failed`).
tests/bench/test_wsclient.py runs it against real websocket servers.
"""

from __future__ import annotations

import array
import base64
import contextlib
import errno
import hashlib
import json
import os
import select
import socket
import time
from urllib.parse import urlsplit

from stream_events import EVENT_HEAD, SEEN, learned, parse_json_event, read_event, remember

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 2**22  # bytes; a longer message closes the connection (1009)
MAX_HANDSHAKE = 65536  # bytes of HTTP response headers
RECV_SIZE = 65536
CLOSE_TIMEOUT = 2.0  # seconds to wait for the server to end a connection we close
TICK = 0.001  # seconds: a client process reads its sockets at most this often
OPEN_TIMEOUT = 60.0  # seconds for one websocket handshake (and again for the hello)
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
CONNECTING, HANDSHAKE, OPEN, CLOSING, DONE = range(5)
EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT


class ProtocolError(Exception):
    """The server broke RFC 6455: the connection is closed with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def masked_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final client frame (clients must mask what they send)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    if n:
        mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
        payload = (int.from_bytes(payload, "big") ^ mask).to_bytes(n, "big")
    return head + key + payload


def close_frame(code: int) -> bytes:
    return masked_frame(OP_CLOSE, code.to_bytes(2, "big"))


def check_response(head: bytes, accept: bytes) -> str | None:
    """Why the HTTP response `head` does not open the websocket asked for with the key
    whose accept value is `accept`; None if it does."""
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or not status[0].startswith("HTTP/1."):
        return f"not an HTTP response: {lines[0][:80]!r}"
    if status[1] != "101":
        return f"server rejected WebSocket connection: HTTP {' '.join(status[1:])}"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return f"bad header line {line[:80]!r}"
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if headers.get("upgrade", "").lower() != "websocket":
        return f"Upgrade: {headers.get('upgrade')!r}, not websocket"
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if "upgrade" not in tokens:
        return f"Connection: {headers.get('connection')!r}, not upgrade"
    if headers.get("sec-websocket-accept", "").encode() != accept:
        return f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r} is wrong"
    if headers.get("sec-websocket-extensions"):
        return f"extensions not offered: {headers['sec-websocket-extensions']}"
    if headers.get("sec-websocket-protocol"):
        return f"subprotocol not offered: {headers['sec-websocket-protocol']}"
    return None


class Received:
    """What one connection received: each transfer event's seq, transfer id and the
    `time.time()` of the read that brought it, the stream's hello, and a count of the other
    messages. `message` reads one text message (fast path: `stream_events`)."""

    __slots__ = ("hello", "other", "seqs", "tids", "times")

    def __init__(self) -> None:
        self.seqs = array.array("q")
        self.tids = array.array("q")
        self.times = array.array("d")
        self.other = 0  # hello, pings and events of other kinds
        self.hello: dict | None = None

    def message(self, p: bytes, now: float) -> tuple[int, int] | None:
        """One text message, received at `now`; (seq, transfer id) if it is a transfer
        event recorded."""
        if self.hello is not None:
            event = SEEN.get(p)
            if event is None and p.startswith(EVENT_HEAD):
                event = read_event(p)
                if event is not None:
                    if event[1] is None:
                        self.other += 1  # an event of another kind
                        return None
                    learned(p, event)
            if event is not None:
                self.seqs.append(event[0])
                self.tids.append(event[1])
                self.times.append(now)
                return event
        try:
            msg = json.loads(p)
        except ValueError:
            self.other += 1  # not JSON: the stream sends none
            return None
        if self.hello is None:
            if isinstance(msg, dict) and msg.get("type") == "hello":
                self.hello = msg
            else:
                self.other += 1  # a replayed event before hello; none are expected
            return None
        event = parse_json_event(msg)
        if event is None or event[1] is None:
            self.other += 1
            return None
        self.seqs.append(event[0])
        self.tids.append(event[1])
        self.times.append(now)
        return event


class FrameReader(Received):
    """RFC 6455 frames (server to client) parsed as the bytes come: `feed` takes a chunk
    and hands each text message to `message`, answers pings (`send`) and hands a close
    frame to `on_close`; a broken frame raises ProtocolError. The connection below
    supplies `send` and `on_close` and moves `state`."""

    __slots__ = ("frag_op", "frag_size", "fragments", "have", "need", "parts", "state")

    def __init__(self) -> None:
        super().__init__()
        self.state = CONNECTING
        self.parts: list[bytes] = []  # an incomplete frame (or HTTP response), in pieces
        self.have = 0  # bytes in parts
        self.need = 0  # bytes the frame in parts needs (0: its header is incomplete)
        self.fragments: list[bytes] | None = None  # a fragmented message so far
        self.frag_op = OP_TEXT
        self.frag_size = 0

    def feed(self, data: bytes, now: float) -> None:
        """Parse the frames in `data` (and what an earlier chunk left incomplete)."""
        if self.parts:
            self.parts.append(data)
            self.have += len(data)
            if self.have < self.need:
                return  # the frame is still incomplete: join once, when it is not
            data = b"".join(self.parts)
            self.parts, self.have, self.need = [], 0, 0
        n = len(data)
        i = 0
        while n - i >= 2:
            b0 = data[i]
            length = data[i + 1]
            h = i + 2
            if length > 125:
                if length > 127:
                    raise ProtocolError(1002, "masked frame from the server")
                if length == 126:
                    if n - h < 2:
                        break
                    length = (data[h] << 8) | data[h + 1]
                    h += 2
                else:
                    if n - h < 8:
                        break
                    length = int.from_bytes(data[h : h + 8], "big")
                    h += 8
                if length > MAX_MESSAGE:
                    raise ProtocolError(1009, f"frame of {length} bytes")
            end = h + length
            if end > n:
                self.need = end - i
                break
            if b0 == 0x81 and self.fragments is None:  # a whole text message
                p = data[h:end]
                event = SEEN.get(p) if self.hello is not None else None
                if event is not None:  # an event another connection received: no parsing
                    self.seqs.append(event[0])
                    self.tids.append(event[1])
                    self.times.append(now)
                else:
                    event = self.message(p, now)
                    if event is not None and end == n and not i:
                        remember(data, event)  # the next connection's chunk: a dict hit
            else:
                self.frame(b0, data[h:end], now)
            if self.state != OPEN:
                return
            i = end
        if i < n:
            rest = data[i:] if i else data
            self.parts = [rest]
            self.have = len(rest)

    def frame(self, b0: int, payload: bytes, now: float) -> None:
        fin, opcode = b0 & 0x80, b0 & 0x0F
        if b0 & 0x70:
            raise ProtocolError(1002, "reserved bits set (no extension was negotiated)")
        if opcode >= OP_CLOSE:
            if not fin or len(payload) > 125:
                raise ProtocolError(1002, "fragmented or long control frame")
            if opcode == OP_CLOSE:
                self.on_close(payload)
            elif opcode == OP_PING:
                self.send(masked_frame(OP_PONG, payload))
            elif opcode != OP_PONG:
                raise ProtocolError(1002, f"unknown opcode {opcode}")
            return
        if opcode == OP_CONT:
            if self.fragments is None:
                raise ProtocolError(1002, "continuation frame without a message")
            self.fragments.append(payload)
            self.frag_size += len(payload)
            if self.frag_size > MAX_MESSAGE:
                raise ProtocolError(1009, f"message of more than {MAX_MESSAGE} bytes")
            if fin:
                message, self.fragments = b"".join(self.fragments), None
                self.complete(self.frag_op, message, now)
            return
        if opcode not in (OP_TEXT, OP_BINARY):
            raise ProtocolError(1002, f"unknown opcode {opcode}")
        if self.fragments is not None:
            raise ProtocolError(1002, "new message before the last one ended")
        if fin:
            self.complete(opcode, payload, now)
        else:
            self.fragments, self.frag_op, self.frag_size = [payload], opcode, len(payload)

    def complete(self, opcode: int, message: bytes, now: float) -> None:
        if opcode == OP_TEXT:
            self.message(message, now)
        else:
            self.other += 1  # the stream sends no binary messages


class Connection(FrameReader):
    """One websocket: its socket, the handshake, sending, and how it ended (`closed`: why
    it ended while open; `failed`: why it never said hello)."""

    __slots__ = ("accept", "client", "closed", "deadline", "failed", "fd", "out", "sock")

    def __init__(self, client: Clients) -> None:
        super().__init__()
        self.client = client
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fd = self.sock.fileno()
        self.deadline = time.monotonic() + OPEN_TIMEOUT
        self.accept = b""
        self.out = b""  # bytes the socket did not take yet
        self.closed: str | None = None  # why the connection ended while measured
        self.failed: str | None = None  # why it never opened or said hello

    # --- events from the loop ----------------------------------------------------------

    def on_event(self, ev: int) -> None:
        if self.state == OPEN and ev == EPOLLIN:  # the common case, kept short
            try:
                data = self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                self.end(f"{type(exc).__name__}: {exc}")
                return
            if data:
                now = time.time()
                if self.hello is not None and not self.parts and self.fragments is None:
                    event = SEEN.get(data)
                    if event is not None:  # the chunk is one event frame, already read
                        self.seqs.append(event[0])
                        self.tids.append(event[1])
                        self.times.append(now)
                        return
                try:
                    self.feed(data, now)
                except ProtocolError as exc:
                    self.fail_protocol(exc)
            else:
                self.end("closed by server: code -")  # no close frame
            return
        if ev & EPOLLOUT and self.state != CONNECTING and self.out:
            self.flush()
        if self.state == CONNECTING:
            self.connected()
        elif self.state == HANDSHAKE:
            self.handshake()
        elif self.state == OPEN and ev & ~EPOLLOUT:
            self.on_event(EPOLLIN)
        elif self.state == CLOSING:
            self.drain()

    def connect(self, address: tuple[str, int]) -> None:
        self.client.register(self, EPOLLOUT)
        err = self.sock.connect_ex(address)
        if err not in (0, errno.EINPROGRESS):
            self.fail("handshake", OSError(err, os.strerror(err)))

    def connected(self) -> None:
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.fail("handshake", OSError(err, os.strerror(err)))
            return
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        client = self.client
        request = (
            f"GET {client.target} HTTP/1.1\r\n"
            f"Host: {client.host}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Origin: {client.origin}\r\n"
            "User-Agent: concord-bench-live\r\n"
            "\r\n"
        )
        self.state = HANDSHAKE
        self.client.modify(self, EPOLLIN)
        self.send(request.encode())

    def handshake(self) -> None:
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail("handshake", exc)
            return
        now = time.time()
        if not data:
            self.fail("handshake", ConnectionError("closed before the HTTP response"))
            return
        self.parts.append(data)
        self.have += len(data)
        response = b"".join(self.parts)
        head, sep, rest = response.partition(b"\r\n\r\n")
        if not sep:
            self.parts = [response]
            if self.have > MAX_HANDSHAKE:
                self.fail("handshake", ValueError("HTTP response headers too long"))
            return
        self.parts, self.have = [], 0
        problem = check_response(head, self.accept)
        if problem:
            self.fail("handshake", ValueError(problem))
            return
        self.state = OPEN
        self.deadline = time.monotonic() + OPEN_TIMEOUT  # for the hello
        self.client.connections.append(self)
        if rest:
            try:
                self.feed(rest, now)
            except ProtocolError as exc:
                self.fail_protocol(exc)

    def on_close(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        with contextlib.suppress(OSError):  # the answer; the server ends the connection
            self.sock.send(close_frame(code if code is not None else 1000))
        self.end(f"closed by server: code {code if code is not None else '-'}")

    # --- sending and ending -----------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.out:
            self.out += data
            return
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.end(f"{type(exc).__name__}: {exc}")
            return
        if sent < len(data):
            self.out = data[sent:]
            self.client.modify(self, EPOLLIN | EPOLLOUT)

    def flush(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError as exc:
            self.end(f"{type(exc).__name__}: {exc}")
            return
        self.out = self.out[sent:]
        if not self.out and self.state != DONE:
            self.client.modify(self, EPOLLIN)

    def fail(self, stage: str, exc: BaseException) -> None:
        """The connection could not open or say hello."""
        if self.failed is None and self.hello is None:
            self.failed = f"{stage}: {type(exc).__name__}: {exc}"
        self.end(f"{type(exc).__name__}: {exc}")

    def fail_protocol(self, exc: ProtocolError) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(close_frame(exc.code))
        self.end(f"protocol error ({exc.code}): {exc}")

    def end(self, why: str) -> None:
        if self.state == DONE:
            return
        if self.closed is None and self.state == OPEN:
            self.closed = why
            if self.hello is None and self.failed is None:
                self.failed = f"no hello: {why}"
        self.state = DONE
        self.client.unregister(self)
        self.sock.close()

    def close(self) -> None:
        """Start the closing handshake: the server answers and ends the connection."""
        if self.state != OPEN:
            return
        self.send(close_frame(1000))
        if self.state == OPEN:
            self.state = CLOSING

    def drain(self) -> None:
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.end("closed")


class Clients:
    """This process's connections and their epoll loop."""

    def __init__(self, url: str, origin: str, control) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ws":
            raise ValueError(f"{url}: only ws:// is supported")
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.host = parts.netloc
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.origin = origin
        self.epoll = select.epoll()
        self.table: dict[int, Connection] = {}
        self.connections: list[Connection] = []  # every one that completed its handshake
        self.control = control
        self.epoll.register(control.fileno(), EPOLLIN)
        self.message = None  # what the parent sent

    def register(self, c: Connection, mask: int) -> None:
        self.table[c.fd] = c
        self.epoll.register(c.fd, mask)

    def modify(self, c: Connection, mask: int) -> None:
        if c.fd in self.table:
            self.epoll.modify(c.fd, mask)

    def unregister(self, c: Connection) -> None:
        if self.table.pop(c.fd, None) is not None:
            self.epoll.unregister(c.fd)

    def poll(self, timeout: float) -> None:
        """Handle what is ready within `timeout` seconds."""
        table = self.table
        for fd, ev in self.epoll.poll(timeout):
            c = table.get(fd)
            if c is not None:
                c.on_event(ev)
            elif fd == self.control.fileno():
                self.message = self.control.recv()

    def serve(self) -> None:
        """Receive until the parent sends a message (the hot loop: `poll`, inlined)."""
        table, poll, control = self.table, self.epoll.poll, self.control.fileno()
        sleep, monotonic = time.sleep, time.monotonic
        while self.message is None:
            ready = poll(1.0)
            began = monotonic()
            for fd, ev in ready:
                c = table.get(fd)
                if c is not None:
                    c.on_event(ev)
                elif fd == control:
                    self.message = self.control.recv()
            left = began + TICK - monotonic()
            if left > 0:
                sleep(left)  # let more arrive: a wakeup costs more CPU than a read

    def open(self, count: int) -> list[Connection]:
        """Open `count` connections at once; return when each said hello or failed."""
        batch = [Connection(self) for _ in range(count)]
        for c in batch:
            c.connect(self.address)
        waiting = batch
        while True:
            now = time.monotonic()
            for c in waiting:
                if c.hello is None and c.failed is None and now > c.deadline:
                    stage = "handshake" if c.state in (CONNECTING, HANDSHAKE) else "no hello"
                    c.fail(stage, TimeoutError(f"nothing within {OPEN_TIMEOUT:g} s"))
            waiting = [c for c in waiting if c.hello is None and c.failed is None]
            if not waiting:
                return batch
            self.poll(min(0.5, max(0.0, min(c.deadline for c in waiting) - now)))

    def close(self) -> None:
        """Close every connection (closing handshake, at most CLOSE_TIMEOUT seconds)."""
        for c in list(self.table.values()):
            c.close()
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while any(c.state == CLOSING for c in self.table.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.poll(min(left, 0.5))
        for c in list(self.table.values()):
            c.end("closed")
        self.epoll.close()

"""Benchmark the live layer: committed awards fanned out to websocket clients by daphne.

DATABASE_URL must name an existing PostgreSQL database (the script migrates it itself)
and REDIS_URL a Redis server (the channel layer; keys go under a fresh prefix per run):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/live.py [--clients 1000] [--client-procs 2] [--rate 100]
                                       [--duration 20] [--layer pubsub|core] [--daphnes 2]

What it does, in order:
  1. registers --members fresh members and creates one `events`-scope overlay token;
  2. starts --daphnes daphne processes accepting on one listening socket (`daphne --fd`;
     production settings, the same database, Redis and channel layer);
  3. opens --clients websockets on `/ws/stream/` spread over --client-procs processes
     (in batches of --ramp per process) and waits for every `hello`;
  4. a poster process awards 1 point to a random member --rate times a second for
     --duration seconds, noting `time.time()` as each `award()` returns (the commit);
  5. each client notes `time.time()` as each event arrives (one reading per socket read;
     a client process reads its sockets at most every TICK, 1 ms); --grace seconds after
     the last award the clients stop, and the transfers a connection did not receive by
     then count as lost for it.

The clients are a lean websocket client of this script's own (RFC 6455 over non-blocking
sockets, one epoll loop per client process, no extensions): with the `websockets` library
they cost ~19 us of CPU per message, two cores at the 100,000 messages/s of the target.
Now most of their CPU is the kernel's: a TCP read costs ~4 us on a small VM, whatever
the message count in it, so it is ~2 us per message when daphne writes several events
at once and up to ~5 us when it writes them one by one.

It prints delivery counts, commit-to-receive latency over every delivery, lost and
duplicated deliveries, the CPU daphne (and the clients, the poster and redis-server)
used during the posting window, and whether the targets were met. The clients run on
this machine too: on a small machine they compete with daphne for the cores (busy%).
It also samples pg_stat_activity for transactions elsewhere on the PostgreSQL server
that hold a transaction id: the publisher waits for them before each broadcast
(`events.live.wait_settled`), so they show up as latency. --asgi serves another ASGI
application (e.g. a variant on PYTHONPATH) to measure a change against the default.

Exit 0: the run completed (targets met or not); 1: the run failed (daphne died, no
client connected, a process failed); 2: bad arguments or environment (one line on stderr).
"""

from __future__ import annotations

import argparse
import array
import base64
import contextlib
import ctypes
import errno
import hashlib
import json
import logging
import math
import multiprocessing as mp
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from common import (
    BenchFailed,
    Parser,
    Refused,
    ServerDown,
    before_fork,
    positive,
    postgres_url,
    process_cpu,
    register_members,
    stop_popen,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 180.0  # seconds for every client to get its hello
OPEN_TIMEOUT = 60.0  # seconds for one websocket handshake
WARMUP_AWARDS = 20  # posted (and delivered) before the clock starts; not counted
LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) +(?P<rest>.*)$")  # daphne's log format
TARGET_CLIENTS, TARGET_RATE, TARGET_P50_MS, TARGET_P99_MS = 1000, 100, 50.0, 150.0

MEMBERS: list = []  # set in the parent before forking; the poster inherits it


class Failed(Exception):
    """The run failed: printed on stderr, exit 1."""


# --- arguments ------------------------------------------------------------------------


def number(low: float, high: float, what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} must be between {low:g} and {high:g} {what}")
        return value

    return parse


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = Parser(
        prog="bench/live.py",
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=positive, default=1000, help="websockets (1000)")
    parser.add_argument("--client-procs", type=positive, default=2, help="client processes (2)")
    parser.add_argument(
        "--rate", type=number(0.1, 10_000, "awards/s"), default=100.0, help="awards/s (100)"
    )
    parser.add_argument(
        "--duration", type=number(1, 600, "seconds"), default=20.0, help="posting seconds (20)"
    )
    parser.add_argument(
        "--grace", type=number(0.5, 120, "seconds"), default=5.0, help="seconds after (5)"
    )
    parser.add_argument("--layer", choices=("pubsub", "core"), default="pubsub")
    parser.add_argument(
        "--daphnes",
        type=positive,
        default=2,
        help="daphne processes sharing one listening socket (2: one per core here); each"
        " has its own hub",
    )
    parser.add_argument("--members", type=positive, default=200, help="members to pay (200)")
    parser.add_argument(
        "--ramp", type=positive, default=100, help="handshakes at once per client process"
    )
    parser.add_argument(
        "--asgi",
        default="config.asgi:application",
        help="what daphne serves (default config.asgi:application; to try a variant)",
    )
    args = parser.parse_args(argv)
    if args.client_procs > 64:
        raise Refused(f"--client-procs {args.client_procs}: at most 64")
    if args.client_procs > args.clients:
        raise Refused(f"--client-procs {args.client_procs} is more than --clients {args.clients}")
    if args.clients > 50_000:
        raise Refused(f"--clients {args.clients}: at most 50000")
    if args.members > 100_000:
        raise Refused(f"--members {args.members}: at most 100000")
    try:
        postgres_url()
    except ValueError as error:
        raise Refused(str(error)) from None
    redis = os.environ.get("REDIS_URL", "").strip()
    if urlsplit(redis).scheme not in {"redis", "rediss"}:
        raise Refused(
            f"REDIS_URL={redis or '(unset)'} is not a Redis URL (set redis://...): the live"
            " layer needs the Redis channel layer to reach daphne from another process"
        )
    return args


# --- processes --------------------------------------------------------------------------


try:  # loaded here: a Popen preexec_fn must not dlopen (the parent has threads)
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def die_with_parent() -> None:
    """Linux: have the kernel SIGTERM this process if the benchmark dies (best effort)."""
    if _LIBC is not None:
        with contextlib.suppress(Exception):
            _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc) -> None:
    if proc.pid is None:
        return
    proc.join(timeout=0)
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout=5)
    if proc.is_alive():
        proc.kill()
        proc.join(timeout=5)


def raise_fd_limit(needed: int) -> int:
    """Raise the soft open-files limit (children inherit it); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft < needed:
        raise Refused(
            f"open files limit is {soft} (hard {hard}); {needed} are needed for the clients"
            " and daphne (raise it with ulimit -n)"
        )
    return soft


# --- measuring ------------------------------------------------------------------------


def machine_cpu() -> tuple[int, int, int]:
    """(busy, softirq, total) jiffies over all cores, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    total = sum(values[:8])  # guest time is already counted in user
    return total - values[3] - values[4], values[6], total


def cpu_snapshot(pids: dict[str, list[int | None]]) -> dict:
    snap = {name: [process_cpu(pid) for pid in group] for name, group in pids.items()}
    snap["_machine"] = machine_cpu()
    snap["_wall"] = time.monotonic()
    return snap


def cpu_delta(before: dict, after: dict) -> dict:
    """Per group: CPU seconds used between the snapshots (None if unreadable)."""
    out = {}
    for name, values in before.items():
        if name.startswith("_"):
            continue
        pairs = list(zip(values, after[name], strict=True))
        if name == "postgres":  # a backend may end in between (an idle connection closed)
            pairs = [p for p in pairs if None not in p]
        out[name] = (
            None if not pairs or any(None in p for p in pairs) else sum(b - a for a, b in pairs)
        )
    busy, softirq, total = (
        a - b for a, b in zip(after["_machine"], before["_machine"], strict=True)
    )
    out["_busy"] = 100 * busy / total if total else 0.0
    out["_softirq"] = 100 * softirq / total if total else 0.0
    out["_wall"] = after["_wall"] - before["_wall"]
    return out


# --- clients ----------------------------------------------------------------------------
#
# A lean websocket client (RFC 6455, client side, no extensions): non-blocking sockets
# and one epoll loop per client process, which reads what is ready at most every TICK (a
# wakeup costs ~20 us of CPU on a small VM, a read ~4 us, a message in it well under 1).
# The `websockets` library cost ~19 us of CPU per received message, which at 100,000
# messages/s is two cores: more than this machine has for daphne and the clients
# together. Frames are parsed as the bytes come. An event's seq and transfer id are read
# with bytes.find (the hub writes events as compact JSON, `hub.stream_text`), once per
# process: every connection receives the same bytes, so the next ones find the message
# (or the whole chunk, when it is one frame) in SEEN. One in CHECK_EVERY of the events
# read is parsed with json.loads as well (the first included), and a disagreement fails
# the run. Hello, pings and anything not in the expected layout go to json.loads.

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 2**22  # bytes; a longer message closes the connection (1009)
MAX_HANDSHAKE = 65536  # bytes of HTTP response headers
RECV_SIZE = 65536
CLOSE_TIMEOUT = 2.0  # seconds to wait for the server to end a connection we close
TICK = 0.001  # seconds: a client process reads its sockets at most this often
CHECK_EVERY = 256  # events read by bytes.find per one checked with json.loads
EVENT_HEAD = b'{"type":"event","seq":'
TRANSFER_KIND = b',"kind":"ledger.transfer_posted",'
TRANSFER_ID = b'"transfer_id":'
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
CONNECTING, HANDSHAKE, OPEN, CLOSING, DONE = range(5)
EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT


class ProtocolError(Exception):
    """The server broke RFC 6455: the connection is closed with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class MismatchError(Exception):
    """bytes.find and json.loads read an event differently: the fast path is wrong."""


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


def read_event(p: bytes) -> tuple[int, int | None] | None:
    """(seq, transfer id or None for other kinds) of a compact event message, read with
    bytes.find; None if `p` is not one (then json.loads decides)."""
    if not p.startswith(EVENT_HEAD):
        return None
    comma = p.find(b",", 22)
    try:
        seq = int(p[22:comma])
        if not p.startswith(TRANSFER_KIND, comma):
            return seq, None
        start = p.find(TRANSFER_ID, comma + 32) + 14
        if start == 13:
            return None
        end = p.find(b",", start)
        brace = p.find(b"}", start)  # transfer_id may be the last key of `data`
        if end < 0 or 0 <= brace < end:
            end = brace
        return seq, int(p[start:end])
    except ValueError:
        return None  # not the expected layout: json.loads reads it


SEEN: dict[bytes, tuple[int, int]] = {}  # event (or its frame) -> (seq, transfer id)
SEEN_MAX = 100_000
_learned = 0


def remember(key: bytes, event: tuple[int, int]) -> None:
    if len(SEEN) >= SEEN_MAX:
        SEEN.clear()
    SEEN[key] = event


def learned(p: bytes, event: tuple[int, int]) -> None:
    """`p` read as `event` by read_event: remember it, and check a sample with json.loads."""
    global _learned
    if not _learned % CHECK_EVERY:
        expected = parse_json_event(json.loads(p))
        if expected != event:
            raise MismatchError(f"read {event} but json.loads reads {expected} in {p[:300]!r}")
    _learned += 1
    remember(p, event)


def parse_json_event(msg) -> tuple[int, int | None] | None:
    """(seq, transfer id or None for other kinds) of a parsed event message, else None."""
    if not isinstance(msg, dict) or msg.get("type") != "event":
        return None
    if msg.get("kind") != "ledger.transfer_posted":
        return msg["seq"], None
    return msg["seq"], msg["data"]["transfer_id"]


class Connection:
    """One websocket: the handshake, the frames, and what it received."""

    __slots__ = (
        "accept",
        "client",
        "closed",
        "deadline",
        "failed",
        "fd",
        "frag_op",
        "frag_size",
        "fragments",
        "have",
        "hello",
        "need",
        "other",
        "out",
        "parts",
        "seqs",
        "sock",
        "state",
        "tids",
        "times",
    )

    def __init__(self, client: Clients) -> None:
        self.client = client
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fd = self.sock.fileno()
        self.state = CONNECTING
        self.deadline = time.monotonic() + OPEN_TIMEOUT
        self.accept = b""
        self.out = b""  # bytes the socket did not take yet
        self.parts: list[bytes] = []  # an incomplete frame (or HTTP response), in pieces
        self.have = 0  # bytes in parts
        self.need = 0  # bytes the frame in parts needs (0: its header is incomplete)
        self.fragments: list[bytes] | None = None  # a fragmented message so far
        self.frag_op = OP_TEXT
        self.frag_size = 0
        self.seqs = array.array("q")
        self.tids = array.array("q")
        self.times = array.array("d")
        self.other = 0  # hello, pings and events of other kinds
        self.closed: str | None = None  # why the connection ended while measured
        self.failed: str | None = None  # why it never opened or said hello
        self.hello: dict | None = None

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
        problem = self.check_response(head)
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

    def check_response(self, head: bytes) -> str | None:
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
        if headers.get("sec-websocket-accept", "").encode() != self.accept:
            return f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r} is wrong"
        if headers.get("sec-websocket-extensions"):
            return f"extensions not offered: {headers['sec-websocket-extensions']}"
        if headers.get("sec-websocket-protocol"):
            return f"subprotocol not offered: {headers['sec-websocket-protocol']}"
        return None

    # --- frames -----------------------------------------------------------------------

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


def client_process(index: int, count: int, url: str, origin: str, ramp: int, conn) -> None:
    """Open `count` websockets, report ready, record events until told to stop, then
    compare with the commits the parent sends and report latencies and counts."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    try:
        _client(count, url, origin, ramp, conn)
    except BaseException:
        with contextlib.suppress(Exception):
            conn.send(("error", traceback.format_exc()))
        os._exit(1)


def _client(count: int, url: str, origin: str, ramp: int, conn) -> None:
    clients = Clients(url, origin, conn)
    errors: list[str] = []
    began = time.monotonic()
    for start in range(0, count, ramp):
        batch = clients.open(min(ramp, count - start))
        errors += [c.failed for c in batch if c.failed and c.hello is None]
        if clients.message is not None:
            raise RuntimeError(f"the parent sent {clients.message[0]!r} before ready")
    connections = clients.connections
    conn.send(
        (
            "ready",
            {
                "hellos": sum(c.hello is not None for c in connections),
                "errors": errors,
                "seconds": time.monotonic() - began,
                "extensions": [],  # none offered (a server that accepts one fails)
                "hello_seqs": sorted({c.hello["seq"] for c in connections if c.hello}),
            },
        )
    )

    clients.serve()
    kind, commits = clients.message  # ("stop", {transfer_id: commit time})
    if kind != "stop":
        raise RuntimeError(f"the parent sent {kind!r}, not stop")
    stopped = time.time()
    latencies = array.array("d")
    delivered = duplicates = lost = foreign = late_in_order = 0
    closed: dict[str, int] = {}
    wanted = len(commits)
    for c in connections:
        if c.hello is None:
            continue
        if c.closed:
            closed[c.closed] = closed.get(c.closed, 0) + 1
        seen: set[int] = set()
        got: set[int] = set()
        last = -1
        for seq, tid, t in zip(c.seqs, c.tids, c.times, strict=True):
            if seq in seen:
                duplicates += 1
                continue
            seen.add(seq)
            if seq < last:
                late_in_order += 1
            last = max(last, seq)
            commit = commits.get(tid)
            if commit is None:
                foreign += 1  # a warm-up award
                continue
            got.add(tid)
            delivered += 1
            latencies.append(t - commit)
        lost += wanted - len(got)
    clients.close()
    conn.send(
        (
            "result",
            {
                "latencies": latencies,
                "delivered": delivered,
                "duplicates": duplicates,
                "lost": lost,
                "foreign": foreign,
                "out_of_order": late_in_order,
                "other": sum(c.other for c in connections),
                "closed": closed,
                "stopped": stopped,
                "last_receipt": max((c.times[-1] for c in connections if c.times), default=None),
            },
        )
    )


# --- poster -----------------------------------------------------------------------------


class OverCapacity(logging.Filter):
    """Counts channels_redis's "over capacity" records (a dropped group send); lets the
    first few through."""

    SHOW = 3

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "over capacity" not in record.getMessage():
            return True
        self.count += 1
        return self.count <= self.SHOW


def poster_process(run_id: str, rate: float, duration: float, conn) -> None:
    """Award at a steady `rate` for `duration` seconds; send back {transfer id: commit}."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from django.db import connections

    from ledger.actions import award

    dropped = OverCapacity()  # channels_redis (core) logs each group send it drops
    logging.getLogger("channels_redis.core").addFilter(dropped)
    try:
        rng = random.Random(run_id)
        for i in range(WARMUP_AWARDS):  # warm the connection, daphne and the clients
            award(
                rng.choice(MEMBERS),
                1,
                reason="bench live warm-up",
                idempotency_key=f"lw:{run_id}:{i}",
            )
        time.sleep(1.0)
        conn.send(("warm", None))
        conn.recv()  # go
        commits: dict[int, float] = {}
        calls = array.array("d")
        clock, perf = time.time, time.perf_counter
        interval = 1.0 / rate
        start = perf()
        stop = start + duration
        started = clock()
        behind = 0.0
        i = 0
        while True:
            due = start + i * interval
            if due >= stop:
                break
            now = perf()
            if due > now:
                time.sleep(due - now)
            else:
                behind = max(behind, now - due)
            began = perf()
            transfer = award(
                rng.choice(MEMBERS), 1, reason="bench live", idempotency_key=f"lv:{run_id}:{i}"
            )
            commits[transfer.pk] = clock()
            calls.append(perf() - began)
            i += 1
        if perf() < stop:
            time.sleep(stop - perf())  # the window is --duration long unless it overran
        end = perf()
        conn.send(
            (
                "done",
                {
                    "commits": commits,
                    "seconds": end - start,
                    "started": started,
                    "calls": calls,
                    "behind": behind,
                    "over_capacity": dropped.count,
                },
            )
        )
    except BaseException:
        with contextlib.suppress(Exception):
            conn.send(("error", traceback.format_exc()))
        os._exit(1)
    finally:
        connections.close_all()


# --- setup ------------------------------------------------------------------------------


def maintain() -> None:
    """VACUUM (ANALYZE) what awards write, as autovacuum would (see bench/ledger.py)."""
    from django.db import connection

    from accounts.models import Identity, Member
    from events.models import Event
    from ledger.models import Account, Posting, Transfer

    tables = [m._meta.db_table for m in (Account, Posting, Transfer, Event, Member, Identity)]
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


def redis_info(url: str) -> tuple[str, int | None]:
    """(version, pid if the server runs on this machine) of the Redis at `url`."""
    import redis

    info = redis.Redis.from_url(url, socket_timeout=2).info("server")
    local = urlsplit(url).hostname in {None, "", "127.0.0.1", "localhost", "::1"}
    pid = info.get("process_id") if local else None
    if pid and not Path(f"/proc/{pid}").exists():
        pid = None  # another PID namespace
    return str(info.get("redis_version")), pid


class XidWatch:
    """Samples, from a thread, transactions elsewhere on the PostgreSQL server that hold
    a transaction id for longer than `OLD` seconds. The live layer's publisher waits for
    every transaction running when it takes a batch (`events.live.wait_settled`, up to
    2 s), whichever database it is in, so such transactions delay every broadcast."""

    OLD = 0.1
    EVERY = 0.2

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples = self.hits = 0
        self.max_age = 0.0
        self.databases: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: str | None = None

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
                while not self._stop.wait(self.EVERY):
                    rows = db.execute(
                        "SELECT coalesce(datname, '?'), extract(epoch FROM now() - xact_start)"
                        " FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
                        " AND pid <> pg_backend_pid() AND now() - xact_start > %s",
                        [timedelta(seconds=self.OLD)],
                    ).fetchall()
                    self.samples += 1
                    if rows:
                        self.hits += 1
                    for name, age in rows:
                        self.max_age = max(self.max_age, float(age))
                        self.databases[name] = self.databases.get(name, 0) + 1
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def summary(self) -> str:
        if self.error:
            return f"could not sample pg_stat_activity ({self.error})"
        if not self.hits:
            return f"none seen ({self.samples} samples)"
        names = ", ".join(f"{n} ({c})" for n, c in sorted(self.databases.items()))
        return (
            f"SEEN in {self.hits} of {self.samples} samples, oldest {self.max_age:.2f} s,"
            f" in databases: {names} -- each holds up every broadcast (wait_settled)"
        )


def receive(conn, proc, timeout: float, what: str):
    """The next message from a child, or Failed if it died or took too long."""
    deadline = time.monotonic() + timeout
    while not conn.poll(0.2):
        if not proc.is_alive():
            raise Failed(f"{what} (pid {proc.pid}) exited with code {proc.exitcode}")
        if time.monotonic() > deadline:
            raise Failed(f"{what} (pid {proc.pid}) sent nothing within {timeout:g} s")
    kind, payload = conn.recv()
    if kind == "error":
        raise Failed(f"{what} (pid {proc.pid}) failed:\n{payload}")
    return kind, payload


def daphne_log(path: Path, limit: int = 40) -> list[str]:
    """Daphne's stderr, summarized: each distinct warning or error with how often it
    came, then the last traceback (at most `limit` lines)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    counts: dict[str, int] = {}
    last: list[str] = []
    block: list[str] = []
    for line in lines:
        level = LOG_LINE.match(line)
        if level and level["level"] in {"WARNING", "ERROR", "CRITICAL"}:
            counts[level["rest"]] = counts.get(level["rest"], 0) + 1
        if line.startswith("Traceback"):
            block = [line]
        elif block and (line.startswith((" ", "\t")) or not level):
            block.append(line)
            if not line.startswith((" ", "\t")) and line.strip():
                last = block  # the exception line ends a traceback (chained ones too)
        else:
            block = []
    summary = [f"{n} x {rest}" for rest, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    if last:
        summary += ["last traceback:"] + [f"  {line}" for line in last[-limit:]]
    return summary


# --- main -------------------------------------------------------------------------------


def local_database(connection) -> bool:
    return connection.settings_dict["HOST"] in {"", "127.0.0.1", "localhost", "::1"}


def backend_pids() -> list[int]:
    """The PostgreSQL backends serving this database now (the poster's, its publisher
    thread's and daphne's), for their CPU; other databases' are left out."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()  # this process stays out of the database during the window
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def settings_url(connection) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def quantile(ordered, q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
        raise_fd_limit(args.clients + 512)
    except Refused as refused:
        print(f"bench/live.py: {refused}", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex[:10]
    os.environ["CHANNEL_LAYER"] = args.layer
    os.environ["CACHE_KEY_PREFIX"] = f"bench-live-{run_id}"
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    # Every client holds the same overlay token: the per-token limit (20 by default, a
    # guard against a leaked link) would refuse all but a few of them.
    os.environ.setdefault("CONCORD_STREAM_MAX_PER_TOKEN", str(args.clients + 100))

    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as error:
        print(f"bench/live.py: {error}", file=sys.stderr)
        return 2

    procs: list = []  # multiprocessing children, stopped on the way out
    servers: list[subprocess.Popen] = []  # daphne
    workdir = Path(tempfile.mkdtemp(prefix="concord-bench-live-"))
    stderr_path = workdir / "daphne.stderr"
    kept = {"log": True}  # run() clears it when daphne logged nothing notable while measured

    def terminated(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminated)
    try:
        return run(args, run_id, procs, stderr_path, servers.append, kept)
    except Refused as refused:
        print(f"bench/live.py: {refused}", file=sys.stderr)
        return 2
    except Failed as failed:
        print(f"bench/live.py: {failed}", file=sys.stderr)
        lines = daphne_log(stderr_path)
        if lines:
            print(f"daphne stderr ({stderr_path}):\n  " + "\n  ".join(lines), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench/live.py: interrupted; stopping what it started", file=sys.stderr)
        return 130
    finally:
        for proc in procs:
            stop_process(proc)
        for server in servers:
            stop_popen(server)
        forget(os.environ["CACHE_KEY_PREFIX"])
        # Stopped by SIGTERM, daphne may log errors for the connections it cancels
        # (channels_redis.pubsub cleaning up their channels): only what it logged while
        # measured decides whether its log is kept.
        if not kept["log"]:
            shutil.rmtree(workdir, ignore_errors=True)


def forget(prefix: str) -> None:
    """Delete this run's Redis keys (cache entries, channel-layer groups): all of them,
    and only them, are under the run's own prefix."""
    from django.conf import settings

    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        batch = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)


def run(args, run_id: str, procs: list, stderr_path: Path, started, kept: dict) -> int:
    global MEMBERS
    from django.conf import settings
    from django.core.management import call_command
    from django.db import OperationalError, connection
    from django.utils import timezone

    from dashboard.actions import create_token
    from events.models import Event, RelayPosition

    try:
        call_command("migrate", verbosity=0)
    except OperationalError as error:
        reason = (str(error).strip().splitlines() or ["?"])[0]
        raise Refused(f"cannot use the database: {reason}") from None
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('synchronous_commit')")
        version, sync = cursor.fetchone()
    try:
        redis_version, redis_pid = redis_info(settings.REDIS_URL)
    except Exception as error:
        raise Refused(f"cannot use Redis at {settings.REDIS_URL}: {error}") from None
    layer = settings.CHANNEL_LAYERS["default"]
    import channels_redis
    import daphne as daphne_pkg

    print(f"cores: {os.cpu_count()}  DEBUG: {settings.DEBUG}")
    print(f"database: {version.split(' on ')[0]}  synchronous_commit={sync}")
    print(
        f"redis: {redis_version}  channel layer: {args.layer} ({layer['BACKEND']},"
        f" channels_redis {channels_redis.__version__})  prefix {layer['CONFIG']['prefix']}"
    )
    print(
        f"daphne {daphne_pkg.__version__}; clients: bench/live.py's own websocket client"
        f" (raw sockets, one epoll loop per process, reads at most every {TICK * 1000:g} ms)"
    )

    began = time.perf_counter()
    try:
        MEMBERS = register_members(f"vbench-{run_id}", args.members, username="live")
    except BenchFailed as failed:
        raise Failed(str(failed)) from None
    maintain()
    token = create_token("events", label=f"bench live {run_id}").token
    after = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    # The relay starts here: what a scratch database's earlier runs left is not this run's.
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": after, "moved_at": timezone.now()}
    )
    print(
        f"members: {len(MEMBERS)} registered in {time.perf_counter() - began:.1f} s (untimed);"
        f" token scope events; clients subscribe with after={after}"
    )

    # daphne, with this process's environment (production settings, same services): one or
    # more processes accepting on one listening socket (the kernel spreads the connections)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    before_fork()
    daphnes = []
    with open(stderr_path, "wb") as stderr:
        for _ in range(args.daphnes):
            proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), args.asgi],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(listener.fileno(),),
                preexec_fn=die_with_parent,
            )
            started(proc)
            daphnes.append(proc)
        # the relay, as a deployment runs it (one per database): it broadcasts the poster's
        # events; its line "relay: leading ..." says it works
        relay = subprocess.Popen(
            [sys.executable, "manage.py", "run_relay"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=die_with_parent,
        )
        started(relay)
        if "leading" not in (relay.stdout.readline() or ""):
            raise Failed("run_relay did not lead (another relay holds this database's lock?)")
    listener.close()
    try:
        for proc in daphnes:
            wait_for_port(port, proc, what="daphne")
    except ServerDown as down:
        raise Failed(str(down)) from None
    print(
        f"daphne: {len(daphnes)} process(es), pid {', '.join(str(d.pid) for d in daphnes)},"
        f" serving {args.asgi} on 127.0.0.1:{port}; stderr -> {stderr_path}"
    )

    # clients
    ctx = mp.get_context("fork")
    url = f"ws://127.0.0.1:{port}/ws/stream/?token={token}&after={after}"
    origin = f"http://127.0.0.1:{port}"
    shares = [
        args.clients // args.client_procs + (i < args.clients % args.client_procs)
        for i in range(args.client_procs)
    ]
    clients = []
    for i, share in enumerate(shares):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=client_process, args=(i, share, url, origin, args.ramp, child), daemon=True
        )
        proc.start()
        procs.append(proc)
        clients.append((proc, parent))
    began = time.monotonic()
    ready = [receive(conn, proc, READY_TIMEOUT, "client process")[1] for proc, conn in clients]
    hellos = sum(r["hellos"] for r in ready)
    errors = [e for r in ready for e in r["errors"]]
    extensions = sorted({e for r in ready for e in r["extensions"]})
    hello_seqs = sorted({s for r in ready for s in r["hello_seqs"]})
    print(
        f"clients: {hellos} of {args.clients} connected and said hello in"
        f" {time.monotonic() - began:.1f} s over {args.client_procs} processes"
        f" (batches of {args.ramp}); extensions: {', '.join(extensions) or 'none'};"
        f" hello seq {', '.join(map(str, hello_seqs))}"
    )
    if errors:
        distinct = sorted(set(errors))
        print(f"  {len(errors)} failed: " + "; ".join(distinct[:5]))
    for proc in daphnes:
        if proc.poll() is not None:
            raise Failed(f"daphne exited with code {proc.returncode}")
    if not hellos:
        raise Failed("no client connected")

    # poster
    parent, child = ctx.Pipe()
    poster = ctx.Process(
        target=poster_process, args=(run_id, args.rate, args.duration, child), daemon=True
    )
    poster.start()
    procs.append(poster)
    receive(parent, poster, 120, "poster")  # warmed up
    pids = {
        "daphne": [d.pid for d in daphnes],
        "clients": [p.pid for p, _ in clients],
        "poster": [poster.pid],
        "relay": [relay.pid],
        "redis": [redis_pid],
        "postgres": backend_pids() if local_database(connection) else [],
    }
    with XidWatch(settings_url(connection)) as xids:
        before = cpu_snapshot(pids)
        parent.send("go")
        _, posted = receive(parent, poster, args.duration + 120, "poster")
        after_posting = cpu_snapshot(pids)
        ended = time.time()
        time.sleep(args.grace)
        after_grace = cpu_snapshot(pids)
    commits = posted["commits"]
    for _, conn in clients:
        conn.send(("stop", commits))
    results = [receive(conn, proc, 300, "client process")[1] for proc, conn in clients]
    for proc, _ in clients:
        proc.join(timeout=30)
    poster.join(timeout=30)
    daphne_alive = all(d.poll() is None for d in daphnes)

    window = cpu_delta(before, after_posting)
    drain = cpu_delta(before, after_grace)
    latencies = sorted(x for r in results for x in r["latencies"])
    delivered = sum(r["delivered"] for r in results)
    lost = sum(r["lost"] for r in results)
    duplicates = sum(r["duplicates"] for r in results)
    out_of_order = sum(r["out_of_order"] for r in results)
    closed: dict[str, int] = {}
    for r in results:
        for reason, n in r["closed"].items():
            closed[reason] = closed.get(reason, 0) + n
    count = len(commits)
    achieved = count / posted["seconds"] if posted["seconds"] else 0.0
    calls = sorted(posted["calls"])
    last_receipt = max((r["last_receipt"] or 0 for r in results), default=0)
    first_commit = min(commits.values(), default=ended)
    delivery_span = max(last_receipt - first_commit, 1e-9)
    ms = [quantile(latencies, q) * 1000 for q in (0.5, 0.95, 0.99)]
    worst = latencies[-1] * 1000 if latencies else float("nan")
    mean = statistics.fmean(latencies) * 1000 if latencies else float("nan")

    def cpu_line(name: str, d: dict) -> str:
        v = d.get(name)
        return "-" if v is None else f"{v:.2f} s ({100 * v / d['_wall']:.0f}%)"

    print(
        f"\nposting: {count} awards in {posted['seconds']:.2f} s = {achieved:.1f}/s"
        f" (asked {args.rate:g}/s; most behind schedule {posted['behind'] * 1000:.0f} ms);"
        f" award() p50 {quantile(calls, 0.5) * 1000:.1f} ms,"
        f" p99 {quantile(calls, 0.99) * 1000:.1f} ms"
    )
    print(
        f"deliveries: {delivered} of {count * hellos} expected ({count} events x {hellos}"
        f" clients); {delivered / posted['seconds']:.0f} messages/s over the posting window,"
        f" {delivered / delivery_span:.0f}/s from first commit to last receipt"
        f" ({delivery_span:.2f} s)"
    )
    print(
        f"latency commit->receive over {len(latencies)} deliveries: p50 {ms[0]:.1f} ms,"
        f" p95 {ms[1]:.1f} ms, p99 {ms[2]:.1f} ms, max {worst:.1f} ms (mean {mean:.1f} ms)"
    )
    print(
        f"lost (not received {args.grace:g} s after the last award): {lost};"
        f" duplicated: {duplicates}; out of seq order: {out_of_order};"
        f" warm-up/other events: {sum(r['foreign'] for r in results)};"
        f" pings/other messages: {sum(r['other'] for r in results)}"
    )
    if posted["over_capacity"]:
        print(
            f"channel layer: {posted['over_capacity']} group sends during the posting window"
            " were dropped OVER CAPACITY (channels_redis; the poster logged the first"
            f" {OverCapacity.SHOW})"
        )
    if closed:
        print(
            "connections that ended early: "
            + "; ".join(f"{n} x {reason}" for reason, n in sorted(closed.items()))
        )
    print(
        f"cpu, seconds (% of one core) over the posting window ({window['_wall']:.1f} s);"
        f" machine busy {window['_busy']:.0f}% of {os.cpu_count()} cores:"
    )
    print(
        f"  daphne {cpu_line('daphne', window)}, clients {cpu_line('clients', window)},"
        f" poster {cpu_line('poster', window)}, redis-server {cpu_line('redis', window)}"
    )
    print(
        f"  until the clients stopped ({drain['_wall']:.1f} s, busy {drain['_busy']:.0f}%):"
        f" daphne {cpu_line('daphne', drain)}, clients {cpu_line('clients', drain)}"
    )
    ours = sum(window[k] or 0 for k in ("daphne", "clients", "poster", "redis", "postgres"))
    rest = window["_busy"] / 100 * (os.cpu_count() or 1) * window["_wall"] - ours
    print(
        f"  PostgreSQL backends of {connection.settings_dict['NAME']}"
        f" ({len(pids['postgres'])}): {cpu_line('postgres', window)};"
        f" everything else (other load, kernel): {max(rest, 0):.2f} s"
        f" ({100 * max(rest, 0) / window['_wall']:.0f}%), of which softirq"
        f" {window['_softirq'] / 100 * (os.cpu_count() or 1) * window['_wall']:.2f} s"
    )
    if window.get("daphne") is not None and delivered:
        per = window["daphne"] / delivered
        print(
            f"  daphne per delivered message: {per * 1e6:.1f} us (posting window CPU /"
            f" deliveries, all {args.daphnes} process(es)); one event to {hellos} clients:"
            f" {per * hellos * 1000:.0f} ms of daphne CPU"
        )
        if window.get("clients") is not None:
            print(
                f"  clients per delivered message: {window['clients'] / delivered * 1e6:.1f} us"
                f" (posting window CPU / deliveries; {args.client_procs} client"
                f" process{'es' if args.client_procs != 1 else ''})"
            )
        if window["daphne"] / window["_wall"] >= 0.9 * args.daphnes:
            print(
                f"  note: daphne ran at {100 * window['daphne'] / window['_wall']:.0f}% of one"
                " core per process, its ceiling (one thread each): daphne is the bottleneck"
            )
    if window["_busy"] >= 90:
        print(
            f"  note: the machine was {window['_busy']:.0f}% busy: daphne, the clients, the"
            " poster and PostgreSQL competed for the cores"
        )
    print(f"other transactions holding an xid > {XidWatch.OLD:g} s: {xids.summary()}")
    if not daphne_alive:
        codes = ", ".join(str(d.returncode) for d in daphnes if d.returncode is not None)
        print(f"daphne EXITED with code {codes}")
    lines = daphne_log(stderr_path)
    if lines:
        print(f"daphne stderr, warnings and errors ({stderr_path}):\n  " + "\n  ".join(lines))
    else:
        print("daphne stderr: no warnings or errors")
        kept["log"] = False

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print("\ntargets:")
    print(
        f"  clients: {hellos} connected (>= {TARGET_CLIENTS})"
        f" -> {verdict(hellos >= TARGET_CLIENTS)}"
    )
    print(
        f"  events: {achieved:.1f}/s posted (>= {TARGET_RATE})"
        f" -> {verdict(achieved >= TARGET_RATE * 0.99)}"
    )
    print(
        f"  latency p50: {ms[0]:.1f} ms (< {TARGET_P50_MS:g}) -> {verdict(ms[0] < TARGET_P50_MS)}"
    )
    print(
        f"  latency p99: {ms[2]:.1f} ms (< {TARGET_P99_MS:g}) -> {verdict(ms[2] < TARGET_P99_MS)}"
    )
    print(f"  lost/duplicated: {lost}/{duplicates} (0/0) -> {verdict(not lost and not duplicates)}")
    return 0 if daphne_alive else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

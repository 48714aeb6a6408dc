"""One publisher per host: writing processes hand their committed events to it.

Every process that writes broadcasts its own committed events by default (the publisher
thread of `events.live`), and each batch costs the same whatever its size: waiting for
running transactions (`wait_settled`, PostgreSQL queries), the cache bumps and the
PUBLISH (Redis round trips). A process runs one transaction at a time, so its batches
hold an event or two, and with 8 writers on 2 cores that per-batch work took a third of
the machine. `manage.py run_publisher` gathers the events of every writing process of
the host into one publisher: the per-batch work is shared by everything committed
meanwhile.

- The host publisher listens on an abstract Unix socket (Linux) named after the database,
  the cache and the channel layer it serves, so processes of another configuration (the
  tests' database, a second site) never meet it. It accepts connections only from its own
  user (SO_PEERCRED).
- A writing process connects once (after a fork, again) and sends each committed event as
  one SOCK_SEQPACKET message: a non-blocking send of ~20 µs, no round trip. While nobody
  listens (no host publisher, it stopped, or its buffer is full) the event goes to the
  process's own publisher thread as before; the link tries again a second later. Events
  a host publisher took but did not send (it died) stay unpublished: the relay sends
  them.
- Read-your-writes holds across processes: a read in the writing process that waits for
  its own events' cache bumps (`Publisher.wait_handled`), or `Publisher.flush`, asks the
  host publisher, which answers once it has handled (or sent and marked) that process's
  events so far.

Messages are JSON lists: `["e", n, seq, kind, actor_id, subject, created_at, data]` (the
process's n-th event), `["w", "h"|"d", n]` (answer once the first n events are handled /
done) and the answer `["a", "h"|"d", n]`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import select
import selectors
import socket
import struct
import sys
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import connection

from events.models import Event

logger = logging.getLogger(__name__)

RETRY_AFTER = 1.0  # seconds a process sends to its own publisher after a failed connect
STUCK_RETRY = 10.0  # ... and after the host publisher did not answer a wait in time
STUCK_AFTER = 0.5  # seconds without an answer to a wait that mean it is stuck
# Seconds after dropping a link with unconfirmed events during which this process's reads
# skip the cache: their bumps come from the relay (every 2 s, for events over 1 s old).
UNSURE_FOR = 5.0
MAX_PENDING = 20_000  # events the host publisher holds before it stops reading (backpressure)
STOP_FLUSH = 60.0  # seconds a stopping host publisher may take to send what it holds
PROTOCOL = 1  # in the socket's name: writers and a host publisher of another version never meet
MAX_MESSAGE = 64_000  # bytes; a bigger event goes through the process's own publisher
_HANDLED, _DONE = "h", "d"
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


def address() -> bytes | None:
    """The host publisher's socket address for this configuration, or None where there is
    no host publisher: not Linux, not PostgreSQL, the live layer off, an in-process
    channel layer, or `CONCORD_HOST_PUBLISHER` off."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "SOCK_SEQPACKET"):
        return None
    if not getattr(settings, "CONCORD_HOST_PUBLISHER", True):
        return None
    if not getattr(settings, "CONCORD_LIVE", True) or connection.vendor != "postgresql":
        return None
    layer = settings.CHANNEL_LAYERS.get("default", {})
    if "InMemory" in layer.get("BACKEND", ""):
        return None
    db = connection.settings_dict
    cache = settings.CACHES.get("default", {})
    identity = json.dumps(
        [
            [db.get(key) for key in ("HOST", "PORT", "NAME", "USER")],
            [cache.get(key) for key in ("BACKEND", "LOCATION", "KEY_PREFIX")],
            [layer.get("BACKEND"), layer.get("CONFIG")],
            os.geteuid(),
            PROTOCOL,
        ],
        sort_keys=True,
        default=str,
    )
    return b"\0concord-events-" + hashlib.sha256(identity.encode()).hexdigest()[:24].encode()


def _encode(message: list) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


class Link:
    """A writing process's connection to the host publisher."""

    def __init__(self) -> None:
        self._send_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._pid = os.getpid()
        self._retry_at = 0.0
        self._unsure_until = 0.0
        self._sent = 0  # events this process's link handed over
        self._acked = {_HANDLED: 0, _DONE: 0}

    def send(self, event: Event) -> bool:
        """Hand `event` (committed) to the host publisher. False if there is none, or it
        cannot take the event now: the caller's own publisher sends it then."""
        if self._pid != os.getpid():
            self.reset()
        with self._send_lock:
            sock = self._connected()
            if sock is None:
                return False
            try:
                message = _encode(
                    [
                        "e",
                        self._sent + 1,
                        event.seq,
                        event.kind,
                        event.actor_id,
                        event.subject,
                        event.created_at.isoformat() if event.created_at else None,
                        event.data,
                    ]
                )
            except (TypeError, ValueError):
                return False  # not plain JSON: the process's own publisher takes it
            if len(message) > MAX_MESSAGE:
                return False
            try:
                sock.send(message)
            except BlockingIOError:
                return False  # the host publisher is behind: this one goes locally
            except OSError as exc:
                if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                    self._drop(RETRY_AFTER)  # it went away
                return False
            self._sent += 1
            return True

    def wait(self, kind: str, timeout: float) -> bool:
        """Wait until the host publisher has handled (`h`) or finished (`d`) every event
        this process handed it; True at once if there are none outstanding. False after
        `timeout` seconds, or if the host publisher went away or did not answer within
        STUCK_AFTER seconds: the link is then dropped (this process's own publisher sends
        its next events) and tried again after STUCK_RETRY seconds. Events it held
        unconfirmed may still be waiting for their cache bumps (a stuck host publisher, or
        the relay), so for UNSURE_FOR seconds after such a drop waits answer False at once:
        reads come from the database (a flush, `d`, counts them given up on: True)."""
        if self._pid != os.getpid():
            return True
        if kind == _HANDLED and time.monotonic() < self._unsure_until:
            return False
        sock, target = self._sock, self._sent
        if sock is None or self._acked[kind] >= target:
            return True
        if timeout <= 0:
            return False
        began = time.monotonic()
        deadline = began + timeout
        if not self._read_lock.acquire(timeout=timeout):
            return False
        try:
            if self._sock is not sock:  # dropped meanwhile: see above
                return kind == _DONE
            if self._acked[kind] >= target:
                return True
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            with self._send_lock:
                sock.send(_encode(["w", kind, target]))
            while self._acked[kind] < target:
                left = deadline - time.monotonic()
                if left <= 0 or not poller.poll(left * 1000):
                    if time.monotonic() - began >= STUCK_AFTER:
                        raise TimeoutError  # it is stuck, not just slower than our caller
                    return False
                try:
                    data = sock.recv(MAX_MESSAGE)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionResetError  # the host publisher went away
                _tag, which, value = json.loads(data)
                self._acked[which] = max(self._acked[which], value)
            return True
        except (OSError, ValueError) as exc:
            # Not answering, or not even reading (its buffer full): stuck. Else: gone.
            stuck = isinstance(exc, (TimeoutError, BlockingIOError))
            with self._send_lock:
                if self._sock is sock:
                    self._drop(STUCK_RETRY if stuck else RETRY_AFTER)
            return False
        finally:
            self._read_lock.release()

    def _connected(self) -> socket.socket | None:
        if self._sock is not None:
            return self._sock
        if time.monotonic() < self._retry_at:
            return None
        where = address()
        if where is None:
            self._retry_at = float("inf")
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)  # a full backlog (a stuck host publisher) must not block
        try:
            sock.connect(where)
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            if _PEERCRED.unpack(creds)[1] != os.geteuid():
                raise PermissionError("the socket belongs to another user")
        except OSError as exc:
            sock.close()
            retry = RETRY_AFTER
            if isinstance(exc, PermissionError):
                logger.warning("events: not handing events to %r: %s", where, exc)
                retry = STUCK_RETRY
            self._retry_at = time.monotonic() + retry
            return None
        self._sock = sock
        self._sent = 0
        self._acked = {_HANDLED: 0, _DONE: 0}
        return sock

    def disable(self) -> None:
        """Never hand events over from this process (the host publisher itself)."""
        with self._send_lock:
            self.reset()
            self._retry_at = float("inf")

    def _drop(self, retry_after: float) -> None:
        """The host publisher went away or is stuck. What it had not confirmed is the
        relay's now (or its own, if it wakes): until that has had time to happen, waits
        answer False, so reads go to the database. Caller holds the send lock."""
        if self._acked[_HANDLED] < self._sent:
            self._unsure_until = time.monotonic() + UNSURE_FOR
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._sent = 0
        self._acked = {_HANDLED: 0, _DONE: 0}
        self._retry_at = time.monotonic() + retry_after

    def reset(self) -> None:
        """Forget the connection (in a forked child: the parent's, close our copy) and
        look for the host publisher again at the next event."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._pid = os.getpid()
        self._retry_at = 0.0
        self._unsure_until = 0.0
        self._sent = 0
        self._acked = {_HANDLED: 0, _DONE: 0}
        self._send_lock = threading.Lock()
        self._read_lock = threading.Lock()


link = Link()
# A forked child (a Celery or benchmark worker) connects on its own: the parent's
# connection, counters and locks (perhaps held by a thread that does not exist there)
# are not its own.
os.register_at_fork(after_in_child=link.reset)


class HostPublisherError(Exception):
    """The host publisher cannot serve (another one serves this configuration, or there is
    nothing to serve: see `address`)."""


class _Peer:
    """One connected writing process, as the host publisher sees it. Its events are
    numbered 1, 2, ... in the order it sent them (and they arrive in that order); a wait
    for n is answered once every event up to n is handled (or done). Completions come out
    of order (a failed batch is done before an earlier sent one is marked), so each kind
    keeps the numbers not yet complete, oldest first."""

    __slots__ = ("incomplete", "sock", "taken", "waiting")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.taken = 0  # the last event number received
        self.incomplete: dict[str, dict[int, None]] = {_HANDLED: {}, _DONE: {}}
        self.waiting = {_HANDLED: 0, _DONE: 0}  # answer once complete up to this

    def complete_up_to(self, kind: str) -> int:
        return next(iter(self.incomplete[kind]), self.taken + 1) - 1

    def answer(self, kind: str) -> None:
        with contextlib.suppress(OSError):  # gone or not reading: it times out
            self.sock.send(_encode(["a", kind, self.complete_up_to(kind)]))


class HostPublisher:
    """The host's publisher: takes the events of every connected process into this
    process's publisher thread (`events.live.publisher`), and answers their waits."""

    def __init__(self) -> None:
        from events import live

        self.publisher = live.publisher
        self._lock = threading.Lock()
        self._peers: dict[int, _Peer] = {}
        self.listener: socket.socket | None = None

    def bind(self) -> bytes:
        where = address()
        if where is None:
            raise HostPublisherError(
                "nothing to serve: a host publisher needs Linux, PostgreSQL, CONCORD_LIVE"
                " and a Redis channel layer"
            )
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            listener.bind(where)
        except OSError as exc:
            listener.close()
            raise HostPublisherError(
                "another host publisher already serves this database, cache and channel layer here"
            ) from exc
        listener.listen(128)
        listener.setblocking(False)
        self.listener = listener
        link.disable()  # this process hands nothing over to itself
        return where

    def serve(self, stop: threading.Event) -> None:
        """Serve until `stop` is set; then send what is queued and close."""
        assert self.listener is not None, "bind() first"
        self.publisher.observer = self
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ)
        try:
            while not stop.is_set():
                if self.publisher._pending > MAX_PENDING:
                    # Behind (the database or Redis is slow): stop reading, so writers'
                    # sends fail at once and they broadcast their own events meanwhile.
                    stop.wait(0.01)
                    continue
                try:
                    for key, _mask in selector.select(timeout=0.2):
                        if key.fileobj is self.listener:
                            self._accept(selector)
                        else:
                            self._read(selector, key.data)
                except Exception:
                    logger.exception("events: the host publisher's loop failed; going on")
                    stop.wait(0.1)
        finally:
            with contextlib.suppress(OSError):
                self._accept(selector)  # connected before the stop: theirs are taken too
            selector.close()
            self.listener.close()
            with self._lock:
                peers, self._peers = list(self._peers.values()), {}
            for peer in peers:
                self._last_read(peer)
            self.publisher.flush(STOP_FLUSH)
            self.publisher.observer = None
            for peer in peers:
                with contextlib.suppress(OSError):
                    peer.sock.close()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            try:
                creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            except OSError:
                sock.close()
                continue
            _pid, uid, _gid = _PEERCRED.unpack(creds)
            if uid != os.geteuid():
                logger.warning("events: refused a connection from uid %d", uid)
                sock.close()
                continue
            sock.setblocking(False)
            peer = _Peer(sock)
            with self._lock:
                self._peers[sock.fileno()] = peer
            selector.register(sock, selectors.EVENT_READ, peer)

    def _read(self, selector: selectors.BaseSelector, peer: _Peer) -> None:
        while True:
            try:
                data = peer.sock.recv(MAX_MESSAGE + 1024)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                selector.unregister(peer.sock)
                with self._lock:
                    self._peers.pop(peer.sock.fileno(), None)
                peer.sock.close()
                return
            self._take(peer, data)

    def _last_read(self, peer: _Peer) -> None:
        """Stopping: refuse the peer's further sends (they go to its own publisher), then
        take what it sent before."""
        with contextlib.suppress(OSError):
            peer.sock.shutdown(socket.SHUT_RD)
        while True:
            try:
                data = peer.sock.recv(MAX_MESSAGE + 1024)
            except OSError:
                return
            if not data:
                return
            self._take(peer, data)

    def _take(self, peer: _Peer, data: bytes) -> None:
        try:
            self._act(peer, json.loads(data))
        except (ValueError, TypeError, IndexError, KeyError):
            logger.warning("events: dropped a malformed message from a writing process")

    def _act(self, peer: _Peer, message: list) -> None:
        if message[0] == "e":
            _tag, n, seq, kind, actor_id, subject, created_at, data = message
            event = Event.written(
                using="default",
                seq=seq,
                kind=kind,
                actor_id=actor_id,
                subject=subject,
                data=data,
                created_at=datetime.fromisoformat(created_at) if created_at else None,
            )
            event._origin = (peer, n)
            with self._lock:
                peer.taken = n
                for incomplete in peer.incomplete.values():
                    incomplete[n] = None
            self.publisher.submit(event)
        elif message[0] == "w":
            _tag, kind, n = message
            with self._lock:
                if peer.complete_up_to(kind) >= n:
                    peer.answer(kind)
                else:
                    peer.waiting[kind] = max(peer.waiting[kind], n)

    # Called by the publisher thread.

    def handled(self, events) -> None:
        self._advance(_HANDLED, events)

    def done(self, events) -> None:
        self._advance(_DONE, events)

    def _advance(self, kind: str, events) -> None:
        origins = [event._origin for event in events if hasattr(event, "_origin")]
        if not origins:
            return
        touched: dict[int, _Peer] = {}
        with self._lock:
            for peer, n in origins:
                peer.incomplete[kind].pop(n, None)
                touched[id(peer)] = peer
            for peer in touched.values():
                if peer.waiting[kind] and peer.complete_up_to(kind) >= peer.waiting[kind]:
                    peer.waiting[kind] = 0
                    peer.answer(kind)

"""The relay in a thread of the serving process, on embedded defaults (the in-memory
channel layer, which does not cross processes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref

from django.conf import settings
from django.db import connection

from events import live
from events.relay import Relay

logger = logging.getLogger(__name__)


class EmbeddedRelay:
    """Embedded defaults (the in-memory channel layer): the relay loop (`events.relay`) in
    a thread of the serving process. It hands each batch to this process's hubs that it
    feeds (`feed`), and its batch handlers bump this process's local-memory cache for
    writes made by other processes (a shell, a bot): every screen is right within a
    moment. Started by the first HTTP request (`config.asgi`) or the first hub; no
    advisory lock (one serving process per database on these defaults)."""

    _current: EmbeddedRelay | None = None
    _guard = threading.Lock()
    # The hubs fed, whichever relay thread is running: one started again after a crash
    # feeds the hubs its predecessor fed. A hub goes with its event loop.
    _fed: weakref.WeakSet = weakref.WeakSet()

    def __init__(self) -> None:
        self.relay = Relay(deliver=self._deliver, embedded=True)
        self.lock = self.relay.lock
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="concord-relay", daemon=True)

    @property
    def position(self) -> int:
        return self.relay.position or 0

    @classmethod
    def wanted(cls) -> bool:
        return "InMemory" in settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")

    @classmethod
    def running(cls) -> bool:
        current = cls._current
        return current is not None and current.ready.is_set() and current.thread.is_alive()

    @classmethod
    def ensure(cls, timeout: float = 5.0) -> EmbeddedRelay:
        """This process's embedded relay, started if need be, once it knows its position."""
        with cls._guard:
            if cls._current is None or not cls._current.thread.is_alive():
                cls._current = cls()
                cls._current.thread.start()
            current = cls._current
        current.ready.wait(timeout)
        return current

    @classmethod
    def shut(cls, timeout: float = 5.0) -> None:
        """Stop this process's embedded relay (tests, before the database goes)."""
        with cls._guard:
            current, cls._current = cls._current, None
        if current is not None:
            current.stop.set()
            current.thread.join(timeout)

    def feed(self, hub) -> int:
        """Hand `hub` (a `dashboard.hub.Hub`, on its event loop `hub.loop`) every batch from
        now on, through `hub.take`. Returns the position it starts from: every batch above
        it reaches the hub, none at or below."""
        with self.lock:
            EmbeddedRelay._fed.add(hub)
            return self.position

    def _run(self) -> None:
        try:
            while not self.stop.is_set() and self.relay.position is None:
                try:
                    self.relay.start()
                except Exception:
                    logger.exception("relay: could not read its position; retrying")
                    connection.close()
                    self.stop.wait(1.0)
            self.ready.set()
            while not self.stop.is_set():
                try:
                    self.relay.serve(self.stop)
                except Exception:
                    logger.exception("relay: reading the log failed; retrying")
                    connection.close()
                    self.stop.wait(1.0)
        finally:
            self.ready.set()
            self.relay.close()

    def _deliver(self, messages: list[dict]) -> None:
        futures = []
        with self.lock:
            for hub in list(EmbeddedRelay._fed):
                loop = hub.loop
                if loop is None or loop.is_closed():
                    continue
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    futures.append(asyncio.run_coroutine_threadsafe(hub.take(messages), loop))
        for future in futures:
            with contextlib.suppress(Exception):  # a loop shutting down: nobody listens
                future.result(live.SEND_TIMEOUT)

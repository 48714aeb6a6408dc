"""Child servers that tests and benchmarks start (daphne, redis-server, run_relay): a
free port, waiting for it to listen, and stopping the process. Standard library only, so
a benchmark can use it before Django is set up."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time


class ServerDown(Exception):
    """A server we started exited, or did not listen in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, proc: subprocess.Popen, timeout: float = 30.0, what: str = "the server"
) -> None:
    """Return once something listens on 127.0.0.1:`port`; ServerDown if `proc` exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerDown(f"{what} exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServerDown(f"{what} did not listen on port {port} within {timeout:g} s")


def stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL after 10 s; nothing if it is not running."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

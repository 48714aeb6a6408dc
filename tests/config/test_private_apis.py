"""One test per entry of config/private_apis.py: each fails when an upgrade of the library
changes the private part Concord leans on (run this file first when upgrading one)."""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
import textwrap
import time

import pytest
from django.core.handlers.base import BaseHandler
from django.db import DataError

from config import private_apis
from config.db import prepared_row
from config.processes import free_port, stop, wait_for_port
from tests.servers import ROOT


@pytest.mark.redis
async def test_group_channel_is_where_group_send_publishes(settings):
    import redis
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix="private-apis-test")
    channel = private_apis.group_channel(layer, "g")
    client = redis.Redis.from_url(settings.REDIS_URL)
    watch = client.pubsub(ignore_subscribe_messages=True)
    watch.subscribe(channel)
    try:
        message = {"type": "probe", "n": 7}
        await layer.group_send("g", message)
        deadline = time.monotonic() + 5
        received = None
        while received is None and time.monotonic() < deadline:
            received = watch.get_message(timeout=1)  # None for the subscription's reply
        assert received is not None, f"group_send published nothing on {channel!r}"
        assert layer.deserialize(received["data"]) == message
    finally:
        watch.close()
        client.close()
        await layer.flush()


def test_group_channel_method_still_exists():
    """The same guard where no Redis runs (the embedded suite)."""
    from channels_redis.pubsub import RedisPubSubLoopLayer

    assert callable(RedisPubSubLoopLayer._get_group_channel_name)


# A bare ASGI app under a real daphne: it answers whether `send` leads to the protocol.
PROBE_APP = """
from autobahn.websocket.protocol import WebSocketServerProtocol
from config import private_apis

async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    protocol = private_apis.daphne_protocol(send, WebSocketServerProtocol)
    found = protocol is not None and protocol.state == protocol.STATE_OPEN
    await send({"type": "websocket.send", "text": "protocol" if found else "none"})
    await receive()
"""


def test_daphne_protocol_is_found_behind_a_real_daphnes_send(tmp_path):
    from websockets.sync.client import connect

    (tmp_path / "probe_app.py").write_text(textwrap.dedent(PROBE_APP))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "probe_app:app"],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, what="daphne")
        with connect(f"ws://127.0.0.1:{port}/", proxy=None, open_timeout=10) as ws:
            assert ws.recv(timeout=10) == "protocol"
    finally:
        stop(proc)


def test_daphne_protocol_is_none_for_any_other_send():
    from autobahn.websocket.protocol import WebSocketServerProtocol

    async def send(message):
        pass

    assert private_apis.daphne_protocol(send, WebSocketServerProtocol) is None
    assert private_apis.daphne_protocol(send, None) is None


def test_plain_autobahn_logging_turns_off_a_flag_autobahn_reads():
    import autobahn.util

    assert hasattr(autobahn.util, "_HAS_CLICK"), "autobahn no longer has _HAS_CLICK"
    assert "_HAS_CLICK" in inspect.getsource(autobahn.util), "autobahn no longer reads it"
    private_apis.plain_autobahn_logging()
    assert autobahn.util._HAS_CLICK is False


def test_subparsers_are_a_parsers_subcommands():
    parser = argparse.ArgumentParser()
    subs = parser.add_subparsers()
    create, revoke = subs.add_parser("create"), subs.add_parser("revoke")
    parser.add_argument("--verbose", action="store_true")
    assert private_apis.subparsers(parser) == [create, revoke]
    assert private_apis.subparsers(create) == []


@pytest.mark.postgres
@pytest.mark.django_db
def test_django_errors_turn_the_drivers_error_into_djangos():
    with pytest.raises(DataError):
        prepared_row("SELECT 1 / %(zero)s", {"zero": 0})


def _chain_classes(handler) -> list[type]:
    """The middleware classes of a handler's chain, outermost first."""
    classes, layer = [], handler._middleware_chain
    while (instance := getattr(layer, "__wrapped__", None)) is not None and hasattr(
        instance, "get_response"
    ):
        classes.append(type(instance))
        layer = instance.get_response
    return classes


def _hooks(handler) -> list[list[str]]:
    return [
        [f"{type(hook.__self__).__name__}.{hook.__name__}" for hook in hooks]
        for hooks in (
            handler._view_middleware,
            handler._template_response_middleware,
            handler._exception_middleware,
        )
    ]


@pytest.mark.parametrize("which", ["MIDDLEWARE", "BOT_API_MIDDLEWARE"])
def test_load_sync_middleware_builds_the_chain_django_builds(settings, which):
    paths = getattr(settings, which)
    settings.MIDDLEWARE = paths
    django_built, ours = BaseHandler(), BaseHandler()

    django_built.load_middleware()
    private_apis.load_sync_middleware(ours, paths)

    assert [f"{c.__module__}.{c.__name__}" for c in _chain_classes(ours)] == paths
    assert _chain_classes(ours) == _chain_classes(django_built)
    assert _hooks(ours) == _hooks(django_built)
    assert any(_hooks(ours))

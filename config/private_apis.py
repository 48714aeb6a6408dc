"""Every place Concord leans on a library's private or undocumented parts, in one module.

Each entry says why no public API serves, the version it was checked against (pinned in
pyproject.toml), and the test that fails when an upgrade changes it
(tests/config/test_private_apis.py holds one test per entry). Upgrading one of these
libraries: run that file first.

| entry                  | library (pinned)     | reaches into                                    |
| ---------------------- | -------------------- | ----------------------------------------------- |
| group_channel          | channels-redis 4.3.0 | the pub/sub layer's `_get_group_channel_name`   |
| daphne_protocol        | daphne 4.2.3         | ASGI `send` is `partial(Server.handle_reply, p)` |
| plain_autobahn_logging | autobahn 26.11.1     | `autobahn.util._HAS_CLICK`                      |
| subparsers             | argparse (3.11)      | `parser._actions`, `_SubParsersAction`          |
| django_errors          | Django 5.2.19        | `connection.wrap_database_errors`               |

`gc.freeze()` (config/asgi.py) is public Python API and stays there, with its reason.
"""

from __future__ import annotations

import argparse
import functools


def group_channel(layer, group: str) -> str:
    """The Redis channel channels_redis's pub/sub layer PUBLISHes a group's messages on.

    Why: `events.live.DirectPubSub` publishes a relay batch in one pipelined round trip
    on a synchronous client, writing exactly what `group_send` would write; the layer
    names the channel only through this private method (a prefix and `__group__`).
    Call it from a coroutine: the layer proxies it to its loop-bound part."""
    return layer._get_group_channel_name(group)


def daphne_protocol(send, protocol_class):
    """The autobahn protocol behind a consumer's ASGI `send` under daphne, else None.

    Why: daphne gives each application `send=functools.partial(Server.handle_reply,
    protocol)`; the hub writes one prepared frame to many sockets through the protocol's
    public `sendPreparedMessage` / `sendData` instead of framing the same bytes per
    connection through ASGI (dashboard/wire.py). Anything else (Channels' test
    communicator, another ASGI server) gets None and sends through ASGI."""
    if (
        protocol_class is not None
        and isinstance(send, functools.partial)
        and send.args
        and isinstance(send.args[0], protocol_class)
        and hasattr(send.args[0], "sendPreparedMessage")
    ):
        return send.args[0]
    return None


def plain_autobahn_logging() -> None:
    """Stop autobahn colouring its debug log lines with click.

    Why: autobahn builds a debug line's arguments on every write, coloured when click
    can be imported (Celery brings it); the colouring alone was ~4% of daphne's CPU per
    message. No setting turns it off; plain text changes nothing else."""
    import autobahn.util

    autobahn.util._HAS_CLICK = False


def subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of `parser`'s subcommands.

    Why: config.commands makes every parser of a command (its subcommands' too) answer
    bad arguments with one line; argparse keeps the subparsers only in the private
    `_actions` list, as `_SubParsersAction.choices`."""
    return [
        sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for sub in action.choices.values()
    ]


def django_errors(connection):
    """A context manager raising `django.db` errors for what the driver raises inside.

    Why: `config.db.prepared_row` runs hot statements on psycopg's own cursor (Django's
    cursors never prepare) on Django's connection; Django's public cursor wraps errors
    with this, and callers catch `django.db.IntegrityError`, never psycopg's."""
    return connection.wrap_database_errors

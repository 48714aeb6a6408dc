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
| load_sync_middleware   | Django 5.2.19        | a handler's `_middleware_chain` and hook lists  |

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


def load_sync_middleware(handler, paths: list[str]) -> None:
    """Give Django `handler` the synchronous middleware chain `paths` (dotted paths, as in
    settings.MIDDLEWARE), built as `BaseHandler.load_middleware` builds it: each
    middleware wrapped by `convert_exception_to_response`, its process_view,
    process_template_response and process_exception hooks registered in Django's order,
    a `MiddlewareNotUsed` skipped.

    Why: Django builds a handler's chain only from settings.MIDDLEWARE, and the Bot API's
    calls run a shorter one (config.handlers); the chain and the hook lists are the
    handler's private attributes, filled here exactly as Django fills them
    (tests/config/test_private_apis.py compares the two)."""
    from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
    from django.core.handlers.exception import convert_exception_to_response
    from django.utils.module_loading import import_string

    handler._view_middleware = []
    handler._template_response_middleware = []
    handler._exception_middleware = []
    chain = convert_exception_to_response(handler._get_response)
    for path in reversed(paths):
        factory = import_string(path)
        if not getattr(factory, "sync_capable", True):
            raise ImproperlyConfigured(f"{path} cannot run synchronously")
        try:
            instance = factory(chain)
        except MiddlewareNotUsed:
            continue
        if instance is None:
            raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
        if hasattr(instance, "process_view"):
            handler._view_middleware.insert(0, instance.process_view)
        if hasattr(instance, "process_template_response"):
            handler._template_response_middleware.append(instance.process_template_response)
        if hasattr(instance, "process_exception"):
            handler._exception_middleware.append(instance.process_exception)
        chain = convert_exception_to_response(instance)
    handler._middleware_chain = chain

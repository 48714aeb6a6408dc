"""One frame for many websockets.

The hub sends each event to every connection that wants it. Through ASGI that costs, per
connection and message, Channels' send, daphne's reply handling and autobahn framing the
same bytes again (about half of daphne's CPU per message, measured by bench/live.py).
Under daphne a connection's ASGI `send` is `functools.partial(Server.handle_reply,
protocol)`, `protocol` being autobahn's WebSocketServerProtocol, whose public
`sendPreparedMessage` writes a frame built once with `PreparedMessage` ("for optimizing
Broadcast/PubSub", autobahn's docs). `connection_of` finds that protocol; anywhere else
(Channels' test communicator, another ASGI server) it returns None and the consumer sends
through ASGI as usual.

The hub hands the connections of one scope the same `Batch` of events; its frames are
joined once, and each connection gets them in one `sendData` (what `sendPreparedMessage`
does with one frame): one socket write per connection per batch.
"""

from __future__ import annotations

from config import private_apis

try:
    from autobahn.websocket.protocol import PreparedMessage, WebSocketServerProtocol
except ImportError:  # daphne (and with it autobahn) is not installed: ASGI sends only
    PreparedMessage = WebSocketServerProtocol = None
else:
    private_apis.plain_autobahn_logging()


def connection_of(send):
    """The autobahn protocol behind a consumer's ASGI `send` under daphne, else None."""
    return private_apis.daphne_protocol(send, WebSocketServerProtocol)


def is_open(protocol) -> bool:
    return protocol.state == protocol.STATE_OPEN


class Outgoing:
    """An event on its way to connections: its text, and its frame built on first use."""

    __slots__ = ("_frame", "msg", "seq", "text")

    def __init__(self, seq: int, text: str, msg: dict) -> None:
        self.seq, self.text, self.msg = seq, text, msg
        self._frame = None

    @property
    def frame(self):
        if self._frame is None:
            # A server's frames are not masked; never compressed (sent as built).
            self._frame = PreparedMessage(self.text.encode(), False, False, True)
        return self._frame


class Batch(list):
    """Events for the connections of one scope, in seq order; `data` is their frames,
    joined once for all of those connections."""

    _data: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = b"".join(item.frame.payloadHybi for item in self)
        return self._data

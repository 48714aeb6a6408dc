"""A webhook receiver on the loopback, as a bot would run one: a real HTTP server
(http.server, in a thread) that verifies each request with the `standardwebhooks`
library and records what it accepted, in arrival order.

`mode`: "up" (verify, answer 204), "503" (answer 503 without reading on), or taken
down with `down()` (the port refuses connections) and brought back with `up()`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.mode = "up"
        self.accepted: list[dict] = []  # {"id", "seq", "type", "data"} in arrival order
        self.rejected: list[str] = []  # why a request failed verification
        self.requests = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def seqs(self) -> list[int]:
        with self.lock:
            return [message["seq"] for message in self.accepted]

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests += 1
                    mode = receiver.mode
                if mode == "503":
                    self.send_response(503)
                    self.end_headers()
                    return
                try:
                    message = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except WebhookVerificationError as exc:
                    with receiver.lock:
                        receiver.rejected.append(str(exc))
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.accepted.append({"id": self.headers["webhook-id"], **message})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stop listening: connections to the port are refused until `up()`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def close(self) -> None:
        self.down()

    def __repr__(self) -> str:
        return json.dumps({"accepted": self.seqs(), "rejected": self.rejected})

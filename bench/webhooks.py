"""Webhook delivery: events queued and sent to one endpoint, in this process.

A receiver on the loopback (http.server in a thread) verifies every message with the
`standardwebhooks` library. Registrations are written first (each writes public events);
then the log is queued (`api.delivery.enqueue_all`) and sent (`deliver_endpoint`, what
the Celery task and the in-process runner call) until nothing is pending. Prints
deliveries/s of each phase and checks the receiver got every seq once, in order.

    DATABASE_URL=postgres://... .venv/bin/python bench/webhooks.py --members 300
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import common


def receiver(secret_box: dict, seqs: list[int]) -> ThreadingHTTPServer:
    from standardwebhooks import Webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            message = Webhook(secret_box["secret"]).verify(body, dict(self.headers.items()))
            seqs.append(message["seq"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=common.positive, default=300)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("refusing to run: set DATABASE_URL to a scratch PostgreSQL database", file=sys.stderr)
        sys.exit(2)

    import django

    django.setup()
    from django.core.management import call_command

    from accounts.actions import register_member
    from api import delivery
    from api.actions import create_endpoint, create_key
    from api.models import WebhookDelivery

    call_command("migrate", verbosity=0)
    secret_box, seqs = {}, []
    server = receiver(secret_box, seqs)
    key = create_key(label="bench", scopes=["events:read"]).key
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    created = create_endpoint(key, url=url)
    secret_box["secret"] = created.secret
    run = uuid.uuid4().hex[:8]
    for n in range(args.members):
        register_member(platform="web", external_id=f"bench-{run}-{n}")
    started = time.perf_counter()
    delivery.enqueue(created.endpoint, delivery.settled_top())
    queued_at = time.perf_counter()
    pending = WebhookDelivery.objects.filter(endpoint=created.endpoint, status="pending")
    while pending.exists():
        delivery.deliver_endpoint(created.endpoint.pk)
    done = time.perf_counter()
    server.shutdown()
    count = WebhookDelivery.objects.filter(endpoint=created.endpoint).count()
    in_order = seqs == sorted(set(seqs)) and len(seqs) == count
    print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}")
    print(f"queued:    {count} deliveries in {queued_at - started:.2f} s")
    print(f"delivered: {len(seqs)} in {done - queued_at:.2f} s", end=" ")
    print(f"({len(seqs) / (done - queued_at):.0f}/s), every seq once in order: {in_order}")


if __name__ == "__main__":
    main()

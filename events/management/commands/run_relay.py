"""`manage.py run_relay`: the relay (`events.relay`). Run one or more anywhere that reaches
the database and Redis: one works, the others wait as standbys and take over when it
dies. SIGTERM or SIGINT: it finishes the batch in hand, gives the lock up and exits 0."""

from __future__ import annotations

import signal
import threading

from django.db import connection

from config.commands import ConcordCommand
from config.text import printable
from events.relay import Relay


class Command(ConcordCommand):
    help = "Broadcast committed events and bump the caches they touch, one relay per database."

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        relay = Relay(out=self.stdout)
        name = connection.settings_dict.get("NAME")
        if not relay.wait_to_lead(stop):
            return
        self.stdout.write(printable(f"relay: leading for {name}"))
        self.stdout.flush()
        relay.run(stop)

"""`manage.py run_publisher`: the host publisher (`events.host`). Run one per host next to
the processes that write; they hand it their committed events, and it broadcasts them in
batches shared by all. Without it each process publishes its own events. Stops on SIGTERM
or SIGINT after sending what it holds."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import CommandError
from django.db import connection

from config.commands import ConcordCommand
from config.text import printable
from events.host import HostPublisher, HostPublisherError


class Command(ConcordCommand):
    help = "Broadcast the committed events of every writing process on this host."

    def handle(self, *args, **options):
        server = HostPublisher()
        try:
            where = server.bind()
        except HostPublisherError as error:
            raise CommandError(str(error)) from None
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        name = connection.settings_dict.get("NAME")
        self.stdout.write(
            printable(
                f"run_publisher: serving the writers of {name} on this host"
                f" (@{where[1:].decode(errors='replace')})"
            )
        )
        self.stdout.flush()
        server.serve(stop)

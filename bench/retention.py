"""Archiving throughput (docs/benchmarks/2026-12-06-retention.md): publish N events, mark
them passed by the relay, archive them to a temporary folder, print the rate and size.
Run against a scratch database: `DATABASE_URL=... manage.py shell < bench/retention.py`
(it leaves an Archive row and an `events.archived` event behind)."""

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

import events
from events.archive import archive_events
from events.models import Event, RelayPosition
from ledger import payloads

N = 20000
with transaction.atomic():
    for i in range(N):
        events.publish(
            "config.changed",
            payloads.config_changed(model="bench.x", pk=i, operation="update", fields=["a"]),
            subject=f"bench:{i}",
        )
top = Event.objects.aggregate(t=Max("seq"))["t"]
RelayPosition.objects.update_or_create(
    name="default", defaults={"seq": top, "moved_at": timezone.now()}
)
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    written = archive_events(timedelta(days=1), Path(d), now=timezone.now() + timedelta(days=2))
    took = time.perf_counter() - t
    rows = sum(w.rows for w in written)
    size = sum(p.stat().st_size for p in Path(d).iterdir())
print(f"archived {rows} events in {len(written)} file(s), {took:.2f} s", end=" ")
print(f"({rows / took:.0f}/s), {size} bytes gzip")

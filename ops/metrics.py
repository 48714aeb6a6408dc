"""Concord's Prometheus instruments, defined once (prometheus-client).

This module imports nothing of Concord's, so every layer may record into it (the event
relay, the dashboard's cache and consumers, every app's refusals through
`config.errors.Refusal`). What is read from the database or a broker at scrape time
(relay lag, integrity results, queue lengths, backups) is not here but in
`ops.collectors`.

Several processes: with `PROMETHEUS_MULTIPROC_DIR` set (before any process starts; the
same empty directory for every daphne, worker, beat and relay process of one host),
prometheus-client writes each process's values to files there and `/metrics` on any
daphne process sums them (`ops.views`). Without it (embedded defaults: one process)
the values are this process's. Gauges of live things (open websockets) count only
living processes (`livesum`; `mark_dead` at exit).
"""

from __future__ import annotations

import atexit
import os

from prometheus_client import Counter, Gauge, Histogram

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Request latencies from 2.5 ms to 10 s; database time per request from 0.5 ms.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

REQUEST_SECONDS = Histogram(
    "concord_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (the URL name, not the path) and method.",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
REQUEST_DB_SECONDS = Histogram(
    "concord_http_request_db_seconds",
    "Database time spent inside one HTTP request (statements through Django), by view.",
    ["view"],
    buckets=DB_BUCKETS,
)
DB_QUERY_SECONDS = Histogram(
    "concord_db_query_duration_seconds",
    "Time of each statement run through Django's connection (any process).",
    ["vendor"],
    buckets=DB_BUCKETS,
)
WEBSOCKETS = Gauge(
    "concord_websocket_connections",
    "Open websocket connections, by kind (stream, dashboard).",
    ["kind"],
    multiprocess_mode="livesum",
)
WEBSOCKETS_OPENED = Counter(
    "concord_websocket_connections_opened",
    "Websocket connections accepted, by kind.",
    ["kind"],
)
CACHE_READS = Counter(
    "concord_cache_reads",
    "Reads of a cached thing (dashboard.cache), by name (lb, bal, card) and result:"
    " hit, miss (computed and stored), bypass (this process's own write awaits the"
    " relay), error (cache unreachable, read from the database).",
    ["name", "result"],
)
REFUSALS = Counter(
    "concord_domain_refusals",
    "Refusals raised by Concord's actions, by app and exception class (config.errors.Refusal).",
    ["app", "exception"],
)
RELAY_BATCHES = Counter(
    "concord_relay_events_sent",
    "Events the relay has handled and broadcast (this process's relay).",
)
INTEGRITY_RUNS = Counter(
    "concord_integrity_runs",
    "Integrity reports run by this process, by result (ok, failed).",
    ["result"],
)
ALERTS_SENT = Counter(
    "concord_alerts_sent",
    "Alert messages sent through Apprise, by kind (raised, resolved) and result.",
    ["kind", "result"],
)


def cached_name(name: str) -> str:
    """The label of a cached thing: its kind (`lb:points` -> `lb`), never the member."""
    return name.split(":", 1)[0]


def _mark_dead() -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid())


if MULTIPROCESS:
    atexit.register(_mark_dead)

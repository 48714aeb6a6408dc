"""gunicorn's settings for Concord's HTTP (pages, admin, /api/v1/):

    gunicorn -c config/gunicorn.py config.wsgi:application

Each setting can be overridden on the command line or by GUNICORN_CMD_ARGS. gthread
workers, one per core (`WEB_CONCURRENCY`), of 4 threads (`GUNICORN_THREADS`): a request
spends most of its time waiting on PostgreSQL (round trips, the commit), so a few threads
per core keep the core busy; each thread holds one persistent database connection
(config.wsgi). Measured against sync workers and daphne in
docs/benchmarks/2026-12-06-api.md. Long polls (`GET /api/v1/events?wait=...`) would hold a
thread for their wait and websockets need ASGI: the reverse proxy sends `/ws/` and
`/api/v1/events` to daphne (config.asgi), everything else here."""

from __future__ import annotations

import os

# Read by config.settings when a worker loads the app (workers inherit this environment).
# Opening a PostgreSQL connection was ~15% of an award's time in a worker
# (docs/benchmarks/2026-12-06-api.md); each thread runs one request at a time, so
# connections are bounded by workers x threads.
if not os.environ.get("DATABASE_POOL", "").strip():
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# Behind the proxy: keep-alive to it, and a request that takes longer than this is killed.
keepalive = 5
timeout = 60
graceful_timeout = 30
# Workers are recycled now and then, staggered, to bound what a long life accumulates.
max_requests = 10_000
max_requests_jitter = 1_000
# Whether a request came over TLS is Django's to decide (DJANGO_BEHIND_TLS_PROXY), as under
# daphne: gunicorn would otherwise trust X-Forwarded-Proto from 127.0.0.1 by itself.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ""
accesslog = None
errorlog = "-"

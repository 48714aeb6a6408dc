"""Database time: every statement Django runs is timed (an execute wrapper installed on
each new connection), into `concord_db_query_duration_seconds`, and, inside an HTTP
request, added to the request's total (`ops.middleware`, through a context variable,
which asgiref carries into the threads that run sync code for async views).

Statements run on a raw psycopg cursor (the ledger's prepared posting statement) do not
pass Django's wrappers and are not counted."""

from __future__ import annotations

import time
from contextvars import ContextVar

from ops.metrics import DB_QUERY_SECONDS

# The running request's database seconds (a one-item list, so threads can add to it).
request_db: ContextVar[list[float] | None] = ContextVar("concord_request_db", default=None)


def time_queries(sender, connection, **kwargs) -> None:
    if _timer not in connection.execute_wrappers:
        connection.execute_wrappers.append(_timer)


# One labelled child per vendor, looked up once: `.labels()` on every statement cost
# more than the observation itself.
_by_vendor: dict[str, object] = {}


def _timer(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed = time.perf_counter() - started
        vendor = context["connection"].vendor
        child = _by_vendor.get(vendor)
        if child is None:
            child = _by_vendor[vendor] = DB_QUERY_SECONDS.labels(vendor)
        child.observe(elapsed)
        total = request_db.get()
        if total is not None:
            total[0] += elapsed

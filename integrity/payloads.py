"""The data of the event a stored integrity run publishes, defined once (see
`events.payloads`). Readers: the dashboard's feed and counters, the log, tests."""

from __future__ import annotations

from typing import TypedDict

from events.payloads import schema


@schema("integrity.run_finished")
class RunFinished(TypedDict):
    run_id: int
    ok: bool
    checks: int  # how many ran
    failed: list[str]  # the names of those that found violations or could not run
    duration_ms: int


def run_finished(
    *, run_id: int, ok: bool, checks: int, failed: list[str], duration_ms: int
) -> RunFinished:
    return {
        "run_id": run_id,
        "ok": ok,
        "checks": checks,
        "failed": failed,
        "duration_ms": duration_ms,
    }

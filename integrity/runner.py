"""Running checks and shaping the result; the command renders it, the task stores it."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

from django.db import transaction

from integrity.registry import all_checks, get_check

logger = logging.getLogger(__name__)

Status = Literal["ok", "failed", "error"]


class UnknownCheck(LookupError):
    def __init__(self, names: list[str]):
        super().__init__(f"unknown integrity check(s): {', '.join(names)}")
        self.names = names


@dataclass
class CheckResult:
    name: str
    status: Status
    violations: int
    sample: list = field(default_factory=list)
    duration_ms: float = 0.0
    description: str = ""
    error: str = ""


@dataclass
class Report:
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(result.status == "ok" for result in self.checks)

    @property
    def exit_code(self) -> int:
        """0 clean; 1 a check found violations; 2 a check could not run (and none failed)."""
        if any(result.status == "failed" for result in self.checks):
            return 1
        if any(result.status == "error" for result in self.checks):
            return 2
        return 0

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "checks": [
                {k: v for k, v in asdict(r).items() if k != "description"} for r in self.checks
            ],
        }


def run_checks(names: list[str] | None = None) -> Report:
    if names:
        missing = []
        for name in names:
            try:
                get_check(name)
            except KeyError:
                missing.append(name)
        if missing:
            raise UnknownCheck(missing)
        checks = [get_check(name) for name in dict.fromkeys(names)]
    else:
        checks = all_checks()
    return Report(checks=[_run_one(check) for check in checks])


def _run_one(check) -> CheckResult:
    started = time.perf_counter()
    try:
        # Its own transaction: a failing query cannot leave the connection unusable for
        # the checks after it; on PostgreSQL also one snapshot for the count and sample.
        with transaction.atomic():
            _snapshot()
            found = check.func()
    except Exception as exc:
        logger.exception("integrity check %s could not run", check.name)
        return CheckResult(
            name=check.name,
            status="error",
            violations=0,
            duration_ms=_ms(started),
            description=check.description,
            error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        )
    return CheckResult(
        name=check.name,
        status="failed" if found.count else "ok",
        violations=found.count,
        sample=[_plain(item) for item in found.sample],
        duration_ms=_ms(started),
        description=check.description,
    )


# Memory a check's sort or hash may use (PostgreSQL, for the check's transaction only).
# The ledger checks group millions of postings: with the server's default (4 MB) their
# hashes spilled to disk in batches (bench/analytics.py, docs/benchmarks/2026-12-06-scale.md).
CHECK_WORK_MEM = "128MB"


def _snapshot() -> None:
    connection = transaction.get_connection()
    outermost = len(connection.savepoint_ids) == 0  # not nested in a caller's transaction
    if connection.vendor == "postgresql" and outermost:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute(f"SET LOCAL work_mem = '{CHECK_WORK_MEM}'")


def _plain(item):
    return item if isinstance(item, (int, str, float, bool, type(None))) else str(item)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)

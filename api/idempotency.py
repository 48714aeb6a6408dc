"""`Idempotency-Key` on writing POSTs, with Stripe's semantics.

The first request with a key stores its answer (status and body) with a hash of the
request, per API key; a retry with the same request gets that answer again (with
`Idempotent-Replayed: true`), a retry with another request a 422 naming the fields that
differ. The stored row is inserted *before* the work, in the work's own transaction
(`INSERT ... ON CONFLICT DO NOTHING`): a concurrent request with the same key then waits
on the database's unique index until the first commits and finds its answer (or, if it
rolled back, inserts the row and does the work itself). No
Python lock, so it holds across processes and hosts. A 5xx answer is never stored (the
transaction rolls back: a retry may succeed).

Writes that move value refuse to run without a key (400): a retried award must never
pay twice. The ledger's own idempotency key is derived from it (`api:<actor>:<key>`), so
even a retry after the stored answer is purged (or through a rotated key) pays once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from api import problems
from api.models import IdempotentRequest
from api.problems import Problem
from api.sql import statement
from ledger.plans import SystemKey

HEADER = "Idempotency-Key"
KEY_MAX = 200
IN_PROGRESS = 102

Work = Callable[[], tuple[int, dict]]


def _documented(required: bool) -> dict:
    """The header in a route's OpenAPI operation (`openapi_extra=`)."""
    return {
        "parameters": [
            {
                "name": HEADER,
                "in": "header",
                "required": required,
                "description": "Any unique string; send it again only to retry this request"
                + (" (required: this request moves value)" if required else ""),
                "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX},
            }
        ]
    }


REQUIRED = _documented(True)
OPTIONAL = _documented(False)


def header_value(request: HttpRequest) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    value = raw.strip()
    if not value or len(value) > KEY_MAX or not value.isascii() or not value.isprintable():
        raise Problem(
            400,
            "invalid_idempotency_key",
            f"{HEADER} is 1 to {KEY_MAX} printable ASCII characters",
        )
    return value


def ledger_key(request: HttpRequest) -> SystemKey:
    """The ledger idempotency key of this request (it carries an Idempotency-Key)."""
    return SystemKey(f"api:{request.auth.actor_id}:{header_value(request)}")


REFUSALS = (Problem, *problems.DOMAIN_BASES)


def _answer(refusal: Exception) -> tuple[int, dict]:
    problem = refusal if isinstance(refusal, Problem) else problems.of_domain(refusal)
    return problem.status, problem.body()


def run(work: Work) -> tuple[int, dict]:
    """Do `work` in a transaction (a savepoint inside one); a refusal (domain exception,
    `Problem`) is an answer, and what the work wrote before it is undone."""
    try:
        with transaction.atomic():
            return work()
    except REFUSALS as refusal:
        return _answer(refusal)


def write(request: HttpRequest, body: dict, work: Work, *, moves_value: bool) -> HttpResponse:
    """Answer a writing POST: run `work` once per Idempotency-Key (see the module).

    The claim, the work and its answer share one transaction, with no savepoint around
    the work (two round trips fewer on the hot path): a refusal rolls the claim back with
    the work, and is then stored as the key's answer in a transaction of its own. If
    another request with the key committed in between, its answer is the key's."""
    value = header_value(request)
    if value is None:
        if moves_value:
            raise Problem(
                400,
                "idempotency_key_required",
                f"this request moves value: send an {HEADER} header (any unique string,"
                " reused only to retry the same request)",
            )
        return problems.response(*run(work))
    digest = _hash(request, body)
    try:
        with transaction.atomic():
            record_id = _claim(request, value, digest, body)
            if record_id is not None:
                status, data = _fill(record_id, *work())
    except REFUSALS as refusal:  # nothing of the work stays; the refusal is the answer
        with transaction.atomic():
            record_id = _claim(request, value, digest, body)
            if record_id is not None:
                status, data = _fill(record_id, *_answer(refusal))
    if record_id is None:
        # Another request with this key committed first (we waited for it).
        existing = IdempotentRequest.objects.get(api_key=request.auth, key=value)
        return _replay(existing, request, digest, body)
    return problems.response(status, data)


def _fill(record_id: int, status: int, data: dict) -> tuple[int, dict]:
    """Store `status` and `data` as the claimed key's answer, in the caller's transaction;
    a 5xx is never stored: the transaction is marked for rollback (a retry may succeed)."""
    if status >= 500:
        transaction.set_rollback(True)
    else:
        with transaction.get_connection().cursor() as cursor:
            cursor.execute(_FILL, [status, json.dumps(data), record_id])
    return status, data


_CLAIM = statement("idempotency_claim")
_FILL = statement("idempotency_fill")


def _claim(request: HttpRequest, value: str, digest: str, body: dict) -> int | None:
    """Insert the key's row (in the caller's transaction); None if a committed one has it.

    ON CONFLICT waits for a concurrent inserter of the same key to end, like the unique
    index would, without an error (so no savepoint: one round trip)."""
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM,
            [
                request.auth.pk,
                value,
                request.method,
                request.path[:300],
                digest,
                json.dumps(body),
                IN_PROGRESS,
                "{}",
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _hash(request: HttpRequest, body: dict) -> str:
    canonical = json.dumps(
        [request.method, request.path, body], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(
    existing: IdempotentRequest, request: HttpRequest, digest: str, body: dict
) -> HttpResponse:
    if existing.request_hash == digest:
        return problems.response(
            existing.status, existing.response_body, {"Idempotent-Replayed": "true"}
        )
    differing = []
    if existing.method != request.method or existing.path != request.path[:300]:
        differing.append("path")
    before = existing.request_body if isinstance(existing.request_body, dict) else {}
    differing += sorted(
        name for name in set(before) | set(body) if before.get(name) != body.get(name)
    )
    raise Problem(
        422,
        "idempotency_key_reused",
        f"{HEADER} {existing.key!r} was used for a different request"
        f" ({', '.join(differing) or 'body'} differ{'s' if len(differing) == 1 else ''})",
        fields=differing,
    )


def purge(now=None) -> int:
    """Forget stored answers older than the retention (at least 24 hours); how many."""
    hours = settings.API_IDEMPOTENCY_RETENTION_HOURS
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted

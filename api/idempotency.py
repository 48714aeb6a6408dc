"""`Idempotency-Key` on writing POSTs, with Stripe's semantics.

The first request with a key stores its answer (status and body) with a hash of the
request, per API key; a retry with the same request gets that answer again (with
`Idempotent-Replayed: true`), a retry with another request a 422 naming the fields that
differ. The stored row is inserted *before* the work, in the work's own transaction
(`INSERT ... ON CONFLICT DO NOTHING`): a concurrent request with the same key then waits
(on PostgreSQL for the key's transaction lock, taken first; on SQLite for the one writer)
until the first commits and finds its answer (or, if it rolled back, inserts the row and
does the work itself). No Python lock, so it holds across processes and hosts. A 5xx
answer is never stored (the transaction rolls back: a retry may succeed).

An award to an open wallet on PostgreSQL takes a shorter way (`OneStatement`): the key's
lock, the transfer and the stored answer in the ledger's one statement; whatever that
cannot answer falls back to the way above, having written nothing.

Writes that move value refuse to run without a key (400): a retried award must never
pay twice. The ledger's own idempotency key is derived from it (`api:<actor>:<key>`), so
even a retry after the stored answer is purged (or through a rotated key) pays once.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from pydantic import TypeAdapter

from api import problems
from api.models import IdempotentRequest
from api.problems import Problem
from api.sql import statement
from ledger import posting
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


def write(
    request: HttpRequest,
    body: dict,
    work: Work,
    *,
    moves_value: bool,
    one_statement: OneStatement | None = None,
) -> HttpResponse:
    """Answer a writing POST: run `work` once per Idempotency-Key (see the module); by
    `one_statement` first, where the route offers one (and the database can).

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
    if one_statement is not None:
        answered = _in_one_statement(request, value, digest, body, one_statement)
        if answered is not None:
            return answered
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
_CLAIM_PG = statement(
    "idempotency_claim.pg",
    lock=statement("idempotency_lock", api_key="%(api_key)s::bigint", key="%(key)s::text"),
)
_FILL = statement("idempotency_fill")


def _claim(request: HttpRequest, value: str, digest: str, body: dict) -> int | None:
    """Insert the key's row (in the caller's transaction); None if a committed one has it.

    ON CONFLICT waits for a concurrent inserter of the same key to end, like the unique
    index would, without an error (so no savepoint: one round trip). On PostgreSQL the
    key's lock is taken first, in the same statement (see `OneStatement`)."""
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_PG if connection.vendor == "postgresql" else _CLAIM,
            {
                "api_key": request.auth.pk,
                "key": value,
                "method": request.method,
                "path": request.path[:300],
                "hash": digest,
                "body": json.dumps(body),
                "status": IN_PROGRESS,
                "answer": "{}",
                "now": connection.ops.adapt_datetimefield_value(timezone.now()),
            },
        )
        row = cursor.fetchone()
    return row[0] if row else None


# --- one statement: a transfer written with its key's answer ---------------------------


@dataclass(frozen=True)
class OneStatement:
    """A route's work that the ledger can write with its stored answer in one statement
    (PostgreSQL, no transaction around the request: `ledger.posting.Rider`): the claim,
    the transfer and the answer in one round trip and one commit, where the general path
    takes four. `action` runs the ledger action; `status` and `answer` (an SQL expression
    of the answer's JSON over the posting statement's CTEs and parameters, made by
    `events.payloads.sql_object`; `%(idem_now_json)s` is the transfer's time as the API
    writes it) are what is stored and answered. Whatever it cannot do there (a wallet
    to open, a refusal, a replayed key) it leaves to the general path, having written
    nothing."""

    action: Callable[[], object]
    status: int
    answer: str


_LOCK_FIRST = (
    "(SELECT true FROM "
    + statement("idempotency_lock", api_key="%(idem_api_key)s::bigint", key="%(idem_key)s::text")
    + ")"
)
_WHEN = TypeAdapter(datetime)


@functools.cache
def _answer_insert(answer: str) -> str:
    return statement("idempotency_answer", answer=answer)


_KEY_TAKEN = "api_idempotentrequest_once"
_DEADLOCK = "40P01"


def _in_one_statement(
    request: HttpRequest, value: str, digest: str, body: dict, fast: OneStatement
) -> HttpResponse | None:
    """Answer by `fast` in one statement, or None (nothing written: the general path)."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None

    def params(now) -> dict:
        return {
            "idem_api_key": request.auth.pk,
            "idem_key": value,
            "idem_method": request.method,
            "idem_path": request.path[:300],
            "idem_hash": digest,
            "idem_body": json.dumps(body),
            "idem_status": fast.status,
            "idem_now_json": _WHEN.dump_python(now, mode="json"),
        }

    rider = posting.Rider(
        insert=_answer_insert(fast.answer),
        params=params,
        gate=_LOCK_FIRST,
    )
    try:
        with posting.riding(rider):
            fast.action()
    except (posting.RiderDeclined, *REFUSALS):
        return None  # the general path runs it again, and stores a refusal as the answer
    except IntegrityError as error:
        if getattr(getattr(error.__cause__, "diag", None), "constraint_name", None) != _KEY_TAKEN:
            raise
        return None  # the key has its answer already: the general path replays it
    except OperationalError as error:
        # A claim that did not take the key's lock first (a worker of an earlier release,
        # mid-deploy) can deadlock with this statement; PostgreSQL ended the statement,
        # so nothing of it stays and the general path waits for that claim.
        if getattr(error.__cause__, "sqlstate", None) != _DEADLOCK:
            raise
        return None
    if rider.row is None:  # the action did not post (nothing written)
        return None
    return problems.response(fast.status, rider.row["response_body"])


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

"""Webhook delivery: from the event log to each endpoint, in seq order, signed the
Standard Webhooks way, retried with back-off, every attempt in the delivery log.

    tick:  queue  — for each endpoint of an active key, the settled events above its
                    position, in its scope and kinds (the public projection GET
                    /api/v1/events answers, `api.routes.events.read_upto`), become one
                    pending delivery each (`api.actions.enqueue_deliveries`)
           send   — each enabled endpoint whose head (lowest pending seq) is due: one
                    sender takes its lease and sends the head, then the next, while they
                    succeed (`deliver_endpoint`), each to a checked address of the URL's
                    host (`api.netguard`: an internal one is refused, a failed attempt);
                    a failure is due again after the next pause of
                    WEBHOOK_RETRY_SCHEDULE (`api.actions.record_attempt`)

Order: an endpoint is only ever sent its head, so seq N+1 waits until N is delivered or
has failed for good (the schedule ran out: the endpoint is then disabled, with
`api.webhook_disabled`, and resumes with N+1 when enabled again). Events are queued only
once settled (every transaction running when the top seq was read has ended, as the
relay and the events long-poll wait), so none can later appear below a queued one.

Who runs it: Celery (beat sends `api.tasks.deliver_webhooks` every WEBHOOK_TICK_SECONDS;
it queues, and sends `api.tasks.deliver_endpoint` per endpoint due), or, without a
broker (embedded defaults), `EmbeddedWebhooks`: a thread of the serving process running
the same tick (started with the embedded relay by `config.asgi`). The lease
(`leased_until`, claimed with a conditional UPDATE) keeps two senders off one endpoint.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone
from standardwebhooks import Webhook

from api import actions, netguard
from api.models import WebhookDelivery, WebhookEndpoint
from api.routes.events import read_upto
from dashboard.scopes import Scope
from events import live
from events.models import Event

logger = logging.getLogger(__name__)
READ_PAGE = 500
BATCH = 100  # deliveries one endpoint is sent in a row before the sender moves on
LEASE_MARGIN = 30  # seconds beyond the request timeout
USER_AGENT = "Concord-Webhooks/1"


# --- queue ------------------------------------------------------------------------------


def settled_top() -> int | None:
    """The newest seq, once every transaction running when it was read has ended (none
    can still commit a seq below it); None if one still runs after the settle timeout."""
    top = Event.objects.aggregate(top=Max("seq"))["top"] or 0
    return top if live.wait_settled(live.SETTLE_TIMEOUT) else None


def _active_endpoints():
    now = timezone.now()
    return WebhookEndpoint.objects.filter(api_key__revoked_at__isnull=True).filter(
        Q(api_key__expires_at__isnull=True) | Q(api_key__expires_at__gt=now)
    )


def enqueue(endpoint: WebhookEndpoint, top: int) -> int:
    """Queue the endpoint's events in (position, top]; returns how many."""
    stream, kinds = Scope.parse(endpoint.scope), set(endpoint.kinds)
    after, queued = endpoint.position, 0
    while after < top:
        found, upto = read_upto(stream, after, top, READ_PAGE)
        messages = [
            {"seq": e["seq"], "kind": e["kind"], "body": _body(e)}
            for e in found
            if not kinds or e["kind"] in kinds
        ]
        added = actions.enqueue_deliveries(endpoint.pk, after=after, upto=upto, messages=messages)
        if added == 0 and messages:
            return queued  # another sender queued them: it goes on from there
        queued, after = queued + added, upto
    return queued


def _body(event: dict) -> dict:
    """The message: the Standard Webhooks shape (`type`, `timestamp`, `data`) and `seq`."""
    return {
        "type": event["kind"],
        "timestamp": event["at"],
        "seq": event["seq"],
        "data": event["data"],
    }


def enqueue_all() -> int:
    top = settled_top()
    if top is None:
        return 0
    return sum(enqueue(endpoint, top) for endpoint in _active_endpoints().filter(position__lt=top))


# --- send -------------------------------------------------------------------------------


def encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(secret: str, message_id: str, payload: bytes, at) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with the `standardwebhooks` library."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, payload),
    }


def send(
    endpoint: WebhookEndpoint, delivery: WebhookDelivery, resolver: netguard.Resolver | None = None
) -> WebhookDelivery | None:
    """One attempt: POST the delivery's message to a checked address of the URL's host
    (`api.netguard`: an address it refuses fails the attempt, nothing sent), then record
    it. `resolver`: host name to addresses (the system's by default)."""
    at = timezone.now()
    payload = encode(delivery.body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(endpoint.secret, delivery.message_id, payload, at),
    }
    started = time.monotonic()
    status_code, error = None, ""
    try:
        status_code = netguard.post(
            endpoint.url,
            payload,
            headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            resolver=resolver,
        )
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except Exception as exc:
        # Any failure to send is this attempt's (a refused connection, a timeout, a URL
        # the HTTP client cannot use): logged and retried, never a stuck sender.
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return actions.record_attempt(
        delivery.pk,
        at=at,
        ok=not error,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
        schedule=settings.WEBHOOK_RETRY_SCHEDULE,
    )


def _lease_until():
    return timezone.now() + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + LEASE_MARGIN)


def _lease(endpoint_id: int):
    """Take the endpoint for this sender: the lease's end, our token (None: another
    sender holds it, or it is disabled)."""
    now, until = timezone.now(), _lease_until()
    free = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    taken = WebhookEndpoint.objects.filter(free, pk=endpoint_id, enabled=True).update(
        leased_until=until
    )
    return until if taken == 1 else None


def _renew(endpoint_id: int, held):
    """Extend our lease (only if it is still ours); None if it is not."""
    until = _lease_until()
    renewed = WebhookEndpoint.objects.filter(pk=endpoint_id, leased_until=held).update(
        leased_until=until
    )
    return until if renewed == 1 else None


def _head(endpoint: WebhookEndpoint) -> WebhookDelivery | None:
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.PENDING)
        .order_by("seq")
        .first()
    )


def deliver_endpoint(endpoint_id: int, resolver: netguard.Resolver | None = None) -> int:
    """Send an endpoint its due deliveries in seq order, while they succeed (at most
    BATCH); returns how many were delivered. The lease is renewed before a send when
    less than LEASE_MARGIN / 2 beyond the timeout is left, so it outlasts every request."""
    held = _lease(endpoint_id)
    if held is None:
        return 0
    delivered, renewed_at = 0, time.monotonic()
    try:
        for _ in range(BATCH):
            endpoint = _active_endpoints().filter(pk=endpoint_id, enabled=True).first()
            head = _head(endpoint) if endpoint is not None else None
            if head is None or head.next_attempt_at > timezone.now():
                break
            if time.monotonic() - renewed_at > LEASE_MARGIN / 2:
                held, renewed_at = _renew(endpoint_id, held), time.monotonic()
                if held is None:
                    break  # another sender took it over (ours ran out)
            result = send(endpoint, head, resolver)
            if result is None or result.status != WebhookDelivery.DELIVERED:
                break
            delivered += 1
    finally:
        if held is not None:
            WebhookEndpoint.objects.filter(pk=endpoint_id, leased_until=held).update(
                leased_until=None
            )
    return delivered


def due_endpoints() -> list[int]:
    """Enabled endpoints (of active keys) whose head is due and that no sender holds."""
    now = timezone.now()
    head_due = Subquery(
        WebhookDelivery.objects.filter(endpoint=OuterRef("pk"), status=WebhookDelivery.PENDING)
        .order_by("seq")
        .values("next_attempt_at")[:1]
    )
    return list(
        _active_endpoints()
        .filter(enabled=True)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .annotate(head_due=head_due)
        .filter(head_due__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def tick(dispatch: Callable[[int], object] = deliver_endpoint) -> int:
    """Queue what the log has new, then hand each due endpoint to `dispatch`."""
    queued = enqueue_all()
    for endpoint_id in due_endpoints():
        dispatch(endpoint_id)
    return queued


# --- in-process runner (embedded defaults) ----------------------------------------------


class EmbeddedWebhooks:
    """Without a broker: `tick` every WEBHOOK_TICK_SECONDS in a thread of the serving
    process, sending each endpoint in turn. Started with the embedded relay by the first
    HTTP request (`config.asgi`); one serving process per database on these defaults."""

    _current: EmbeddedWebhooks | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="concord-webhooks", daemon=True)

    @classmethod
    def wanted(cls) -> bool:
        return bool(settings.WEBHOOK_IN_PROCESS)

    @classmethod
    def running(cls) -> bool:
        current = cls._current
        return current is not None and current.thread.is_alive()

    @classmethod
    def ensure(cls) -> EmbeddedWebhooks:
        with cls._guard:
            if cls._current is None or not cls._current.thread.is_alive():
                cls._current = cls()
                cls._current.thread.start()
            return cls._current

    @classmethod
    def shut(cls, timeout: float = 10.0) -> None:
        with cls._guard:
            current, cls._current = cls._current, None
        if current is not None:
            current.stop.set()
            current.thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    tick()
                except Exception:
                    logger.exception("webhooks: a tick failed; trying again")
                    connection.close()
                self.stop.wait(settings.WEBHOOK_TICK_SECONDS)
        finally:
            connection.close()

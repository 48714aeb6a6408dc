"""Every write to webhook endpoints, their deliveries and attempts (the API, the command,
the dashboard and the sender, `api.delivery`, call these).

Locks: the endpoint's row first, then the delivery's (erasure too, holding the endpoints
FOR KEY SHARE: `api.actions.erasure`). Endpoint changes, automatic disabling and
redeliveries publish an event (`api.webhook_*`, never sent to a stream or a webhook: no
public projection). Queueing deliveries and recording attempts publish none:
they are the sender's bookkeeping of events already in the log (one event per attempt
would add a row to the log for every row it reads), and the delivery log is their record.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

import events
from api import netguard, payloads
from api.exceptions import InvalidWebhook, UnknownWebhook, WebhookDisabled
from api.models import ApiKey, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from dashboard import public
from dashboard.scopes import InvalidOverlayScope, Scope
from events.models import Event

URL_MAX = WebhookEndpoint._meta.get_field("url").max_length
KINDS_MAX = 50
SECRET_BYTES = 24
ERROR_MAX = WebhookAttempt._meta.get_field("error").max_length
_url = URLValidator(schemes=["http", "https"])


class CreatedEndpoint(NamedTuple):
    endpoint: WebhookEndpoint
    secret: str  # shown once at creation (the sender reads it from the row to sign)


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_url(url) -> str:
    url = url.strip() if isinstance(url, str) else ""
    if not url or len(url) > URL_MAX:
        raise InvalidWebhook(f"a webhook URL is an http(s) URL of at most {URL_MAX} characters")
    try:
        _url(url)
    except ValidationError:
        raise InvalidWebhook(f"{url[:100]!r} is not an http(s) URL") from None
    try:
        netguard.check_target(url)
    except netguard.AddressRefused as exc:
        raise InvalidWebhook(f"{url[:100]!r}: {exc}") from None
    return url


def check_scope(scope) -> str:
    try:
        return Scope.parse(scope if isinstance(scope, str) else "").name
    except InvalidOverlayScope as exc:
        raise InvalidWebhook(str(exc)) from None


def check_kinds(kinds) -> list[str]:
    """Event kinds to receive (empty: every public kind the scope lets through). Only
    kinds a token stream may read: those with a public projection (`dashboard.public`)."""
    kinds = sorted(set(kinds or ()))
    if len(kinds) > KINDS_MAX:
        raise InvalidWebhook(f"at most {KINDS_MAX} kinds")
    unknown = [kind for kind in kinds if kind not in public.PROJECTORS]
    if unknown:
        raise InvalidWebhook(
            f"{str(unknown[0])[:64]!r} is not a public event kind"
            f" (one of {', '.join(sorted(public.PROJECTORS))})"
        )
    return kinds


def _reads_events(key: ApiKey) -> bool:
    return "events:read" in key.scopes


def _endpoint(endpoint_id: int, *, key: ApiKey | None = None, lock: bool = False):
    rows = WebhookEndpoint.objects.select_for_update() if lock else WebhookEndpoint.objects
    if key is not None:
        rows = rows.filter(api_key=key)
    found = rows.filter(pk=endpoint_id).first() if isinstance(endpoint_id, int) else None
    if found is None:
        raise UnknownWebhook(f"no webhook {endpoint_id}")
    return found


@transaction.atomic
def create_endpoint(
    key: ApiKey, *, url: str, scope: str = "events", kinds=(), actor=None
) -> CreatedEndpoint:
    """An endpoint for `key`, receiving the events committed from now on. The key must
    hold `events:read`: a webhook receives what GET /api/v1/events would answer."""
    url, scope, kinds = check_url(url), check_scope(scope), check_kinds(kinds)
    if not _reads_events(key):
        raise InvalidWebhook("the key needs the events:read scope to receive events")
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        api_key=key,
        url=url,
        secret=secret,
        scope=scope,
        kinds=kinds,
        position=Event.objects.aggregate(top=Max("seq"))["top"] or 0,
        created_at=timezone.now(),
    )
    events.publish(
        "api.webhook_created",
        payloads.webhook_changed(webhook_id=endpoint.pk, key_id=key.pk, url=url),
        actor=actor,
        subject=f"webhook:{endpoint.pk}",
    )
    return CreatedEndpoint(endpoint, secret)


@transaction.atomic
def update_endpoint(
    endpoint_id: int,
    *,
    key: ApiKey | None = None,
    url: str | None = None,
    scope: str | None = None,
    kinds=None,
    enabled: bool | None = None,
    actor=None,
) -> WebhookEndpoint:
    """Change what is given. Enabling resumes deliveries from the lowest pending one (they
    keep being queued while disabled: nothing is lost); it checks the URL again (the
    address rules may have changed since it was registered)."""
    endpoint = _endpoint(endpoint_id, key=key, lock=True)
    if url is not None or (enabled and not endpoint.enabled):
        endpoint.url = check_url(endpoint.url if url is None else url)
    if scope is not None:
        endpoint.scope = check_scope(scope)
    if kinds is not None:
        endpoint.kinds = check_kinds(kinds)
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        endpoint.disabled_reason = "" if enabled else "disabled by its owner"
        if enabled:  # what is due now goes at once
            WebhookDelivery.objects.filter(
                endpoint=endpoint, status=WebhookDelivery.PENDING
            ).update(next_attempt_at=timezone.now())
    endpoint.save()
    events.publish(
        "api.webhook_updated",
        payloads.webhook_updated(endpoint),
        actor=actor,
        subject=f"webhook:{endpoint.pk}",
    )
    return endpoint


@transaction.atomic
def delete_endpoint(endpoint_id: int, *, key: ApiKey | None = None, actor=None) -> None:
    """Remove the endpoint with its deliveries and their log."""
    endpoint = _endpoint(endpoint_id, key=key, lock=True)
    events.publish(
        "api.webhook_deleted",
        payloads.webhook_changed(
            webhook_id=endpoint.pk, key_id=endpoint.api_key_id, url=endpoint.url
        ),
        actor=actor,
        subject=f"webhook:{endpoint.pk}",
    )
    endpoint.delete()


@transaction.atomic
def enqueue_deliveries(endpoint_id: int, *, after: int, upto: int, messages: list[dict]) -> int:
    """Queue `messages` (each {"seq", "kind", "body"}, seqs in (after, upto]) and move the
    endpoint's position to `upto`. Nothing if its position is no longer `after` (another
    sender queued them first). Returns how many were queued."""
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None or endpoint.position != after or upto <= after:
        return 0
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            seq=message["seq"],
            kind=message["kind"],
            body=message["body"],
            created_at=now,
            next_attempt_at=now,
        )
        for message in messages
    )
    endpoint.position = upto
    endpoint.save(update_fields=["position"])
    return len(messages)


def _give_up(endpoint: WebhookEndpoint, delivery: WebhookDelivery, *, actor=None) -> None:
    failures = delivery.attempts - delivery.round_start
    reason = f"delivery of #{delivery.seq} failed {failures} times; retries ran out"
    delivery.status, delivery.next_attempt_at = WebhookDelivery.FAILED, None
    if endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason = False, reason[:300]
        endpoint.save(update_fields=["enabled", "disabled_reason"])
        events.publish(
            "api.webhook_disabled",
            payloads.webhook_disabled(
                endpoint, seq=delivery.seq, attempts=delivery.attempts, reason=reason
            ),
            actor=actor,
            subject=f"webhook:{endpoint.pk}",
        )


@transaction.atomic
def record_attempt(
    delivery_id: int,
    *,
    at: datetime,
    ok: bool,
    status_code: int | None,
    error: str,
    duration_ms: int,
    schedule: list[float],
) -> WebhookDelivery | None:
    """Log one attempt and move the delivery on: delivered; or due again after the next
    pause of `schedule` (seconds after the 1st, 2nd, ... failure of this round); or, the
    schedule run out, failed, with its endpoint disabled (`api.webhook_disabled`). None if
    the delivery went meanwhile (its endpoint was deleted)."""
    endpoint_id = (
        WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint", flat=True).first()
    )
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if endpoint is None or delivery is None:
        return None
    delivery.attempts += 1
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        at=at,
        ok=ok,
        status_code=status_code,
        error=error[:ERROR_MAX],
        duration_ms=max(0, int(duration_ms)),
    )
    if ok:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.DELIVERED, None
        delivery.delivered_at = at
    else:
        failures = delivery.attempts - delivery.round_start
        if failures > len(schedule):
            _give_up(endpoint, delivery)
        else:
            delivery.status = WebhookDelivery.PENDING
            delivery.next_attempt_at = at + timedelta(seconds=schedule[failures - 1])
    delivery.save()
    return delivery


@transaction.atomic
def redeliver(delivery_id: int, *, key: ApiKey | None = None, actor=None) -> WebhookDelivery:
    """Send a delivery again, with a fresh retry schedule: it is due now, and as the
    endpoint's lowest pending seq it goes before the later ones still pending."""
    rows = WebhookDelivery.objects.all()
    if key is not None:
        rows = rows.filter(endpoint__api_key=key)
    found = None
    if isinstance(delivery_id, int):
        found = rows.filter(pk=delivery_id).values_list("endpoint", flat=True).first()
    if found is None:
        raise UnknownWebhook(f"no delivery {delivery_id}")
    endpoint = _endpoint(found, lock=True)
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    if not endpoint.enabled:
        raise WebhookDisabled(f"webhook {endpoint.pk} is disabled: enable it first")
    delivery.status = WebhookDelivery.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.round_start = delivery.attempts
    delivery.save(update_fields=["status", "next_attempt_at", "round_start"])
    events.publish(
        "api.webhook_redelivered",
        payloads.webhook_redelivered(
            webhook_id=endpoint.pk, delivery_id=delivery.pk, seq=delivery.seq
        ),
        actor=actor,
        subject=f"webhook:{endpoint.pk}",
    )
    return delivery


class Pruned(NamedTuple):
    deliveries: int
    attempts: int
    endpoints: int


PRUNE_BATCH = 1000


def prune_deliveries(older_than: timedelta, *, now: datetime | None = None) -> Pruned:
    """Delete the deliveries delivered more than `older_than` ago, with their attempts;
    never a pending or failed one. Publishes no event (as queueing and attempts: the
    delivery log is bookkeeping; the command prints what went).

    Order is untouched: the sender only ever reads an endpoint's lowest *pending* delivery
    and queues from the endpoint's `position`, neither of which a delivered row is. Each
    batch locks the endpoint's row first, as every writer of its deliveries does, and
    deletes only rows that are delivered under that lock: a redelivery (a delivered row
    made pending, the endpoint's new head) either comes first, and the row is kept, or
    after, and finds no such delivery."""
    cutoff = (now or timezone.now()) - older_than
    old = WebhookDelivery.objects.filter(status=WebhookDelivery.DELIVERED, delivered_at__lt=cutoff)
    endpoint_ids = sorted(set(old.values_list("endpoint", flat=True)))
    deliveries = attempts = 0
    for endpoint_id in endpoint_ids:
        while True:
            gone, logged = _prune_batch(endpoint_id, cutoff)
            deliveries, attempts = deliveries + gone, attempts + logged
            if gone < PRUNE_BATCH:
                break
    return Pruned(deliveries, attempts, len(endpoint_ids))


@transaction.atomic
def _prune_batch(endpoint_id: int, cutoff: datetime) -> tuple[int, int]:
    if WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first() is None:
        return 0, 0
    ids = list(
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id, status=WebhookDelivery.DELIVERED, delivered_at__lt=cutoff
        )
        .order_by("seq")
        .values_list("pk", flat=True)[:PRUNE_BATCH]
    )
    if not ids:
        return 0, 0
    _, gone = WebhookDelivery.objects.filter(
        pk__in=ids, status=WebhookDelivery.DELIVERED
    ).delete()  # their attempts with them (the cascade)
    return gone.get("api.WebhookDelivery", 0), gone.get("api.WebhookAttempt", 0)

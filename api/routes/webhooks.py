"""Webhooks of the calling key (`webhooks:manage`): create (the secret is in that answer
only), list, read, change (URL, scope, kinds, enabled), delete; the delivery log of an
endpoint and redelivery of one delivery. The same actions as `manage.py webhook` and the
dashboard. A key only ever sees its own endpoints (another key's are a 404). What an
endpoint receives is what GET /api/v1/events answers the key, so it needs `events:read`
too. Sending is `api.delivery`'s."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field, StrictBool

from api import actions, idempotency
from api.auth import scope
from api.models import WebhookDelivery, WebhookEndpoint
from api.problems import Problem
from api.routes.common import get_or_404, parse_cursor
from api.schemas import Page, PathId, text

router = Router(tags=["webhooks"])
MANAGE = "webhooks:manage"
PAGE_MAX = 100
Kinds = Annotated[list[text(64, 1)], Field(max_length=50)]


class WebhookOut(Schema):
    id: int
    url: str
    scope: str
    kinds: list[str]
    enabled: bool
    disabled_reason: str
    position: int
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="whsec_...: verify signatures with it; shown only here")


class WebhookIn(Schema):
    url: text(2000, 1)
    scope: text(60, 1) = "events"
    kinds: Kinds = Field(default_factory=list)


class WebhookChange(Schema):
    url: text(2000, 1) | None = None
    scope: text(60, 1) | None = None
    kinds: Kinds | None = None
    enabled: StrictBool | None = None


class AttemptOut(Schema):
    number: int
    at: datetime
    ok: bool
    status_code: int | None
    error: str
    duration_ms: int


class DeliveryOut(Schema):
    id: int
    seq: int
    kind: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptOut]


class DeliveryPage(Page):
    items: list[DeliveryOut]


class DeliveriesQuery(Schema):
    status: text(16) | None = None
    limit: int = Field(20, ge=1, le=PAGE_MAX)
    cursor: text(18) | None = None


def webhook_data(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    data = {name: getattr(endpoint, name) for name in WebhookOut.model_fields}
    if secret is not None:
        return WebhookCreatedOut(**data, secret=secret).model_dump(mode="json")
    return WebhookOut(**data).model_dump(mode="json")


def delivery_data(delivery: WebhookDelivery) -> dict:
    fields = {name: getattr(delivery, name) for name in DeliveryOut.model_fields if name != "log"}
    log = [
        {name: getattr(a, name) for name in AttemptOut.model_fields}
        for a in sorted(delivery.attempt_log.all(), key=lambda a: a.number)
    ]
    return DeliveryOut(**fields, log=log).model_dump(mode="json")


def _own(request: HttpRequest, webhook_id: int) -> WebhookEndpoint:
    return get_or_404(WebhookEndpoint.objects.filter(api_key=request.auth), webhook_id, "webhook")


@router.get("", auth=scope(MANAGE), response=list[WebhookOut], summary="This key's webhooks")
def list_webhooks(request: HttpRequest):
    rows = WebhookEndpoint.objects.filter(api_key=request.auth).order_by("pk")[:100]
    return [webhook_data(endpoint) for endpoint in rows]


@router.post(
    "",
    auth=scope(MANAGE),
    response={201: WebhookCreatedOut},
    summary="Register a webhook endpoint (its secret is in this answer only)",
    openapi_extra=idempotency.OPTIONAL,
)
def create_webhook(request: HttpRequest, payload: WebhookIn):
    def work():
        created = actions.create_endpoint(
            request.auth,
            url=payload.url,
            scope=payload.scope,
            kinds=payload.kinds,
            actor=request.auth.actor,
        )
        return 201, webhook_data(created.endpoint, created.secret)

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=False)


@router.get("/{webhook_id}", auth=scope(MANAGE), response=WebhookOut, summary="A webhook")
def get_webhook(request: HttpRequest, webhook_id: PathId):
    return webhook_data(_own(request, webhook_id))


@router.patch(
    "/{webhook_id}",
    auth=scope(MANAGE),
    response=WebhookOut,
    summary="Change a webhook (URL, scope, kinds; enabled: true resumes a disabled one)",
    openapi_extra=idempotency.OPTIONAL,
)
def change_webhook(request: HttpRequest, webhook_id: PathId, payload: WebhookChange):
    changes = payload.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise Problem(422, "validation_failed", "a field sent cannot be null")

    def work():
        endpoint = _own(request, webhook_id)
        changed = actions.update_endpoint(
            endpoint.pk, key=request.auth, actor=request.auth.actor, **changes
        )
        return 200, webhook_data(changed)

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=False)


@router.delete(
    "/{webhook_id}", auth=scope(MANAGE), response={204: None}, summary="Delete a webhook"
)
def delete_webhook(request: HttpRequest, webhook_id: PathId):
    endpoint = _own(request, webhook_id)
    actions.delete_endpoint(endpoint.pk, key=request.auth, actor=request.auth.actor)
    return HttpResponse(status=204)


@router.get(
    "/{webhook_id}/deliveries",
    auth=scope(MANAGE),
    response=DeliveryPage,
    summary="A webhook's delivery log, newest first, each with its attempts",
)
def deliveries(request: HttpRequest, webhook_id: PathId, q: Query[DeliveriesQuery]):
    rows = WebhookDelivery.objects.filter(endpoint=_own(request, webhook_id)).order_by("-seq")
    if q.status:
        rows = rows.filter(status=q.status)
    before = parse_cursor(q.cursor)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    found = list(rows.prefetch_related("attempt_log")[: q.limit + 1])
    page = found[: q.limit]
    return {
        "items": [delivery_data(d) for d in page],
        "next_cursor": str(page[-1].seq) if len(found) > q.limit else None,
    }


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    auth=scope(MANAGE),
    response={202: DeliveryOut},
    summary="Send a delivery again (it goes before the later ones still pending)",
    openapi_extra=idempotency.OPTIONAL,
)
def redeliver(request: HttpRequest, webhook_id: PathId, delivery_id: PathId):
    def work():
        endpoint = _own(request, webhook_id)
        found = get_or_404(
            WebhookDelivery.objects.filter(endpoint=endpoint), delivery_id, "delivery"
        )
        again = actions.redeliver(found.pk, key=request.auth, actor=request.auth.actor)
        return 202, delivery_data(again)

    return idempotency.write(request, {"delivery_id": delivery_id}, work, moves_value=False)

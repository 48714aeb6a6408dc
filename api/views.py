"""The Bot API's keys on a dashboard page (`/dashboard/api-keys/`), for the role that holds
`api.manage_api_keys` (Owner): list, create (the key is shown once, in the answer to the
POST that made it, never stored or put in a message cookie) and revoke. The same actions
as `manage.py api_key`; a refusal is shown beside the form and nothing is written.

Webhooks (`/dashboard/api-keys/webhooks/`, the same permission): every key's endpoints,
each one's delivery log with its attempts, redelivery of a delivery and enabling or
disabling an endpoint (the same actions as `manage.py webhook` and /api/v1/webhooks).
Endpoints are registered by the bots (API) or the operator (command): their secret is
shown once, where they are made."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from api import actions
from api.exceptions import ApiError
from api.models import SCOPES, ApiKey, WebhookDelivery, WebhookEndpoint
from dashboard.views import permitted

MANAGE = "api.manage_api_keys"
EXPIRY_DAYS = (0, 7, 30, 90, 365)  # 0: never


def _page(request, *, issued=None, error: str = "", status: int = 200, form=None):
    now = timezone.now()
    keys = [
        {"key": key, "active": actions.is_active(key, now)}
        for key in ApiKey.objects.order_by("-created_at")[:200]
    ]
    response = render(
        request,
        "api/keys.html",
        {
            "keys": keys,
            "scopes": SCOPES,
            "expiry_days": EXPIRY_DAYS,
            "issued": issued,
            "error": error,
            "form": form or {},
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"  # it may hold a secret shown once
    return response


@permitted(MANAGE)
@require_GET
@never_cache
def keys(request):
    return _page(request)


@permitted(MANAGE)
@require_POST
def key_create(request):
    form = {
        "label": request.POST.get("label", ""),
        "scopes": request.POST.getlist("scope"),
        "expires_in_days": request.POST.get("expires_in_days", "0"),
    }
    try:
        days = int(form["expires_in_days"])
        if days not in EXPIRY_DAYS:
            raise ValueError
    except ValueError:
        return _page(request, error="choose an expiry from the list", status=400, form=form)
    try:
        issued = actions.create_key(
            label=form["label"],
            scopes=form["scopes"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
            actor=request.user,
        )
    except ApiError as exc:
        return _page(request, error=str(exc), status=400, form=form)
    return _page(request, issued=issued)


@permitted(MANAGE)
@require_POST
def key_revoke(request, prefix: str):
    try:
        actions.revoke_key(prefix, actor=request.user)
    except ApiError as exc:
        return _page(request, error=str(exc), status=404)
    return redirect("api-keys")


# --- webhooks: every key's endpoints, their delivery log, redelivery -------------------

WEBHOOK_LOG_ROWS = 50


@permitted(MANAGE)
@require_GET
@never_cache
def webhooks(request):
    rows = (
        WebhookEndpoint.objects.select_related("api_key")
        .annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.PENDING)),
            failed=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.FAILED)),
        )
        .order_by("pk")[:200]
    )
    return render(request, "api/webhooks.html", {"endpoints": rows})


def _log_page(request, endpoint_id: int, *, error: str = "", status: int = 200):
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("api_key"), pk=endpoint_id)
    deliveries = list(
        endpoint.deliveries.order_by("-seq").prefetch_related("attempt_log")[:WEBHOOK_LOG_ROWS]
    )
    try:
        actions.check_url(endpoint.url)
        refused = ""
    except ApiError as exc:  # registered under other address rules (api.netguard)
        refused = str(exc)
    return render(
        request,
        "api/webhook.html",
        {"endpoint": endpoint, "deliveries": deliveries, "error": error, "refused": refused},
        status=status,
    )


@permitted(MANAGE)
@require_GET
@never_cache
def webhook_log(request, endpoint_id: int):
    return _log_page(request, endpoint_id)


@permitted(MANAGE)
@require_POST
def webhook_redeliver(request, endpoint_id: int, delivery_id: int):
    found = WebhookDelivery.objects.filter(pk=delivery_id, endpoint_id=endpoint_id).first()
    if found is None:
        return _log_page(request, endpoint_id, error=f"no delivery {delivery_id}", status=404)
    try:
        actions.redeliver(found.pk, actor=request.user)
    except ApiError as exc:
        return _log_page(request, endpoint_id, error=str(exc), status=409)
    return redirect("api-webhook", endpoint_id=endpoint_id)


@permitted(MANAGE)
@require_POST
def webhook_enable(request, endpoint_id: int):
    get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    enabled = request.POST.get("enabled") == "1"
    try:
        actions.update_endpoint(endpoint_id, enabled=enabled, actor=request.user)
    except ApiError as exc:  # enabling checks the URL against the address rules again
        return _log_page(request, endpoint_id, error=str(exc), status=422)
    return redirect("api-webhook", endpoint_id=endpoint_id)

"""The Bot API's keys on a dashboard page (`/dashboard/api-keys/`), for the role that holds
`api.manage_api_keys` (Owner): list, create (the key is shown once, in the answer to the
POST that made it, never stored or put in a message cookie) and revoke. The same actions
as `manage.py api_key`; a refusal is shown beside the form and nothing is written."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from api import actions
from api.exceptions import ApiError
from api.models import SCOPES, ApiKey
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

"""What every dashboard control shares: who may press it, and how a refusal is shown.

A control is an htmx POST that calls exactly one action. The server checks the
permission again (a button is hidden from a role without it, but a hidden button is not
a lock): without it the answer is 403 and nothing runs. A refusal (any
`config.errors.Refusal`, or a form that does not parse) is answered 422 with the
refusal's message as a small fragment that htmx swaps into the control's own message
slot (`#refusal-<slot>`, named by the form's `slot` field) by the `HX-Retarget` /
`HX-Reswap` / `HX-Reselect` headers; base.html's htmx config swaps 403 and 422 answers
instead of dropping them. Nothing is written: the action refused before committing.
"""

from __future__ import annotations

import re
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST
from django_htmx.http import reswap, retarget

from config.errors import Refusal

VIEW = "dashboard.view_dashboard"
PII = "accounts.view_member_pii"
_SLOT = re.compile(r"[a-z0-9-]{1,60}\Z")


class Unparsable(Exception):
    """A control's form field is missing or malformed (said before any action runs)."""


def permitted(permission: str):
    """Staff login first (else the login page), then `permission` (else a 403 page that
    names the user's roles, or says they have none)."""

    def decorate(view):
        @staff_member_required
        @wraps(view)
        def checked(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                return forbidden(request, permission)
            return view(request, *args, **kwargs)

        return checked

    return decorate


def forbidden(request, permission: str) -> HttpResponse:
    roles = list(request.user.groups.order_by("name").values_list("name", flat=True))
    return render(
        request,
        "dashboard/forbidden.html",
        {"roles": roles, "permission": permission, "superuser": request.user.is_superuser},
        status=403,
    )


def refused(request, message: str, *, status: int = 422) -> HttpResponse:
    """The refusal fragment for the control that sent `request`, retargeted to its slot."""
    slot = request.POST.get("slot", "") or request.GET.get("slot", "")
    slot = slot if _SLOT.match(slot) else "page"
    response = HttpResponse(
        render_to_string("dashboard/_refusal.html", {"message": message}), status=status
    )
    retarget(response, f"#refusal-{slot}")
    reswap(response, "innerHTML")
    response["HX-Reselect"] = ".refusal-text"
    return response


def control(permission: str):
    """A POST-only control view: staff login, then `permission` (403 with the reason,
    nothing run), then the view; a `Refusal` or `Unparsable` it raises becomes the 422
    refusal fragment (the action's transaction rolled back before it got here)."""

    def decorate(view):
        @staff_member_required
        @require_POST
        @wraps(view)
        def checked(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                groups = request.user.groups.order_by("name")
                roles = ", ".join(groups.values_list("name", flat=True))
                return refused(
                    request,
                    f"Not allowed: this needs the permission {permission}"
                    f" (your roles: {roles or 'none'}).",
                    status=403,
                )
            try:
                return view(request, *args, **kwargs)
            except (Refusal, Unparsable) as error:
                return refused(request, str(error))

        return checked

    return decorate


def whole(request, name: str, *, what: str | None = None, required: bool = True) -> int | None:
    """The POSTed field `name` as a whole number (`Unparsable` otherwise)."""
    raw = request.POST.get(name, "").strip().replace(",", "").replace("_", "")
    if not raw and not required:
        return None
    if not (raw.lstrip("-").isascii() and raw.lstrip("-").isdigit()) or len(raw) > 19:
        raise Unparsable(
            f"{what or name} is a whole number, not {raw!r}"
            if raw
            else f"{what or name} is required"
        )
    return int(raw)

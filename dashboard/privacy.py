"""The member page's export (`/dashboard/members/<id>/export.json`): the same JSON as
`manage.py export_member`, for staff who may see personal data
(accounts.view_member_pii). Its own module: the member page's views are being reworked
beside it."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import Member
from dashboard.export import member_export
from dashboard.views import PII, permitted


@permitted(PII)
@require_GET
@never_cache
def member_export_view(request, member_id: int):
    member = get_object_or_404(Member, pk=member_id)
    response = HttpResponse(
        json.dumps(member_export(member), indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="member-{member.pk}.json"'
    return response

"""Everything Concord holds about one member, as JSON (a subject-access request):
`manage.py export_member ID` and the member page's "Export" link.

Found, not listed: every row of any model with a foreign key to the member (wallets,
identities, profile, subscriptions, achievements, decisions, registrations, and what
later apps add), then every row of a model pointing at one of those (postings and holds of
the member's wallets, ...), then the events about the member (subject `member:<id>` or a
`member_id` in their data). Other members' rows are never followed: the members this one
referred appear as their ids only. History tables of configuration (`pgh_*`) and the
members table itself are skipped in the walk."""

from __future__ import annotations

import json

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils import timezone

from accounts.models import Member
from events.models import Event

FORMAT = 1


def _rows(queryset) -> list[dict]:
    return list(queryset.order_by("pk").values())


def _links_to(targets: set[type]) -> list[tuple[type, str, type]]:
    """(model, field name, target) for each foreign key of an ordinary model to a target."""
    found = []
    for model in apps.get_models():
        if model is Member or any(f.name.startswith("pgh_") for f in model._meta.fields):
            continue
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model in targets:
                found.append((model, field.name, field.related_model))
    return found


def member_export(member: Member) -> dict:
    """The export of `member` as a JSON-ready dict (dates as ISO strings)."""
    records: dict[str, list[dict]] = {}
    owned: dict[type, set] = {}
    for model, field, _ in _links_to({Member}):
        rows = _rows(model.objects.filter(**{field: member}))
        if rows:
            records.setdefault(model._meta.label_lower, []).extend(rows)
            pk = model._meta.pk.attname
            owned.setdefault(model, set()).update(row[pk] for row in rows)
    for model, field, target in _links_to(set(owned)):
        if model in owned:
            continue
        rows = _rows(model.objects.filter(**{f"{field}__in": owned[target]}))
        if rows:
            records.setdefault(model._meta.label_lower, []).extend(rows)
    events = Event.objects.filter(Q(subject=f"member:{member.pk}") | Q(data__member_id=member.pk))
    data = {
        "format": FORMAT,
        "generated_at": timezone.now(),
        "member": _rows(Member.objects.filter(pk=member.pk))[0],
        "referred_members": list(member.referrals.order_by("pk").values_list("pk", flat=True)),
        "records": records,
        "events": [
            {"seq": e.seq, "kind": e.kind, "created_at": e.created_at, "data": e.data}
            for e in events.order_by("seq")
        ],
    }
    return json.loads(DjangoJSONEncoder().encode(data))

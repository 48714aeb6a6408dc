"""The admin lists keys (never their hashes) and revokes them, for whoever may manage them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from api.actions import create_key
from api.models import ApiKey
from events.models import Event

pytestmark = pytest.mark.django_db


def test_the_list_hides_the_hash_and_revoke_works(client, staff, make_bot):
    bot = make_bot("members:read")
    client.force_login(staff)
    page = client.get("/admin/api/apikey/")
    assert page.status_code == 200
    assert bot.key.prefix in page.content.decode()
    detail = client.get(f"/admin/api/apikey/{bot.key.pk}/change/").content.decode()
    assert bot.key.secret_hash not in detail
    client.post("/admin/api/apikey/", {"action": "revoke_keys", "_selected_action": [bot.key.pk]})
    assert ApiKey.objects.get(pk=bot.key.pk).revoked_at is not None
    assert Event.objects.get(kind="api.key_revoked").actor_id == staff.pk
    assert bot.get("/members/1").status_code == 401


def test_only_owners_may_revoke(client, django_user_model):
    key = create_key(label="x", scopes=["ledger:read"]).key
    organiser = django_user_model.objects.create_user("org", password="pw-org-12345", is_staff=True)
    organiser.groups.add(Group.objects.get(name="Organiser"))
    organiser.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    client.force_login(organiser)
    client.post("/admin/api/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None

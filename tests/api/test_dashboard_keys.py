"""API keys on the dashboard (`/dashboard/api-keys/`): the Owner lists, creates (the key
shown once) and revokes them; every other role is refused and nothing is written."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from api.actions import authenticate, create_key, hash_secret
from api.models import ApiKey
from dashboard import roles
from events.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"cnc_[a-z0-9]{8}_[A-Za-z0-9_-]+")


def staff_in(role: str):
    user = UserFactory(username=f"keys-{role.lower()}")
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def owner_client(client):
    client.force_login(staff_in(roles.OWNER))
    return client


def test_the_owner_creates_a_key_shown_once_and_stored_hashed(owner_client):
    page = owner_client.get("/dashboard/api-keys/")
    assert page.status_code == 200
    assert 'href="/dashboard/api-keys/"' in page.content.decode()  # in the nav
    made = owner_client.post(
        "/dashboard/api-keys/new",
        {"label": "Quiz bot", "scope": ["ledger:write", "events:read"], "expires_in_days": "90"},
    )
    assert made.status_code == 200
    assert "no-store" in made["Cache-Control"]
    (token,) = set(TOKEN.findall(made.content.decode()))
    key = ApiKey.objects.get()
    assert key.label == "Quiz bot"
    assert sorted(key.scopes) == ["events:read", "ledger:write"]
    assert key.expires_at is not None
    secret = token.split("_", 2)[2]
    assert key.secret_hash == hash_secret(secret)  # only its hash is kept
    assert secret not in str(ApiKey.objects.values().get())
    assert authenticate(token) == key
    assert Event.objects.get(kind="api.key_created").actor_id is not None
    again = owner_client.get("/dashboard/api-keys/").content.decode()
    assert token not in again
    assert key.prefix in again


def test_a_refused_key_says_why_beside_the_form_and_writes_nothing(owner_client):
    answer = owner_client.post("/dashboard/api-keys/new", {"label": "No scope"})
    assert answer.status_code == 400
    assert "data-error" in answer.content.decode()
    bad_expiry = owner_client.post(
        "/dashboard/api-keys/new", {"label": "x", "scope": ["ledger:read"], "expires_in_days": "3"}
    )
    assert bad_expiry.status_code == 400
    assert not ApiKey.objects.exists()
    assert not Event.objects.filter(kind__startswith="api.").exists()


def test_the_owner_revokes_a_key_and_it_stops_at_once(owner_client):
    issued = create_key(label="Old bot", scopes=["ledger:read"])
    answer = owner_client.post(f"/dashboard/api-keys/{issued.key.prefix}/revoke")
    assert answer.status_code == 302
    assert ApiKey.objects.get().revoked_at is not None
    assert authenticate(issued.token) is None
    assert owner_client.post("/dashboard/api-keys/nosuchkey/revoke").status_code == 404


@pytest.mark.parametrize("role", [roles.VIEWER, roles.MODERATOR, roles.TREASURER, roles.ORGANISER])
def test_every_other_role_is_refused_and_nothing_is_written(client, role):
    issued = create_key(label="Kept", scopes=["ledger:read"])
    client.force_login(staff_in(role))
    page = client.get("/dashboard/")
    assert 'href="/dashboard/api-keys/"' not in page.content.decode()
    assert client.get("/dashboard/api-keys/").status_code == 403
    made = client.post("/dashboard/api-keys/new", {"label": "x", "scope": ["ledger:read"]})
    assert made.status_code == 403
    assert client.post(f"/dashboard/api-keys/{issued.key.prefix}/revoke").status_code == 403
    assert list(ApiKey.objects.values_list("label", "revoked_at")) == [("Kept", None)]


def test_a_post_without_the_csrf_token_is_refused():
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_in(roles.OWNER))
    answer = browser.post("/dashboard/api-keys/new", {"label": "x", "scope": ["ledger:read"]})
    assert answer.status_code == 403
    assert not ApiKey.objects.exists()

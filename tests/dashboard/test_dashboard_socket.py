"""`/ws/dashboard/`: who may open it, who may keep it open, and from which pages.

The socket carries what the dashboard shows, so it asks what the dashboard's pages ask:
a staff user holding `dashboard.view_dashboard`, on a session that is still valid. It is
cookie-authenticated, so a page of another origin must not be able to open it with the
visitor's cookie (cross-site websocket hijacking): the Origin must be the dashboard's own
(scheme, host and port) or one listed in DASHBOARD_ORIGINS.

Against the real ASGI application (config.asgi), each test with its own event loop and
so its own hub."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client

from config.asgi import application
from dashboard import roles

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

HOST = "127.0.0.1:8000"
SAME_ORIGIN = [(b"host", HOST.encode()), (b"origin", f"http://{HOST}".encode())]
RECHECK_WITHIN = 5.5  # seconds: the "at least every 5 seconds", and a little slack


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def dashboard(*headers, path: str = "/ws/dashboard/") -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=list(headers))


async def closed_with(comm, timeout: float = 5.0) -> int:
    output = await comm.receive_output(timeout=timeout)
    while output["type"] != "websocket.close":
        output = await comm.receive_output(timeout=timeout)
    return output.get("code")


async def still_open(comm, seconds: float = 0.5) -> None:
    """Whatever `comm` received meanwhile (fragments), none of it is a close."""
    while not await comm.receive_nothing(timeout=seconds):
        output = await comm.receive_output(timeout=1)
        assert output["type"] != "websocket.close", output


async def fragments(comm, count: int = 1) -> list[str]:
    return [await comm.receive_from(timeout=5) for _ in range(count)]


@database_sync_to_async
def make_staff(username: str, *, role: str | None = roles.VIEWER, superuser: bool = False):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    if superuser:
        user = User.objects.create_superuser(username, f"{username}@example.org", "pw-x-1234")
    else:
        user = User.objects.create_user(
            username, f"{username}@example.org", "pw-x-1234", is_staff=True
        )
    if role is not None:
        user.groups.add(Group.objects.get(name=role))
    return user, session_cookie(user)


async def opened(cookie, *headers) -> WebsocketCommunicator:
    """A dashboard socket that was accepted and sent its first fragment."""
    comm = dashboard(*SAME_ORIGIN, cookie, *headers)
    connected, _ = await comm.connect()
    assert connected
    first = await comm.receive_from(timeout=5)
    assert 'hx-swap-oob="true"' in first
    return comm


# --- who may open it ----------------------------------------------------------------------


async def test_a_staff_user_without_a_role_is_closed_with_4403():
    _user, cookie = await make_staff("no-role", role=None)
    comm = dashboard(*SAME_ORIGIN, cookie)
    await comm.connect()
    assert await closed_with(comm) == 4403


async def test_a_superuser_opens_the_dashboard_socket():
    _user, cookie = await make_staff("root", role=None, superuser=True)
    comm = await opened(cookie)
    await comm.disconnect()


async def test_a_viewer_who_is_not_staff_is_closed_with_4403(django_user_model):
    def make():
        user = django_user_model.objects.create_user("not-staff", "n@example.org", "pw-x-1234")
        user.groups.add(Group.objects.get(name=roles.VIEWER))
        return session_cookie(user)

    comm = dashboard(*SAME_ORIGIN, await database_sync_to_async(make)())
    await comm.connect()
    assert await closed_with(comm) == 4403


# --- who may keep it open -----------------------------------------------------------------


async def test_a_demoted_viewer_is_closed_with_4403_and_others_stay_connected():
    viewer, cookie = await make_staff("demoted")
    _other, other_cookie = await make_staff("stays")
    comm = await opened(cookie)
    other = await opened(other_cookie)
    await database_sync_to_async(viewer.groups.clear)()
    assert await closed_with(comm, timeout=RECHECK_WITHIN) == 4403
    await still_open(other)
    await other.disconnect()


async def test_a_deactivated_user_is_closed_with_4403():
    user, cookie = await make_staff("deactivated")
    comm = await opened(cookie)

    def deactivate():
        user.is_active = False
        user.save(update_fields=["is_active"])

    await database_sync_to_async(deactivate)()
    assert await closed_with(comm, timeout=RECHECK_WITHIN) == 4403


async def test_a_user_who_is_no_longer_staff_is_closed_with_4403():
    user, cookie = await make_staff("unstaffed")
    comm = await opened(cookie)

    def unstaff():
        user.is_staff = False
        user.save(update_fields=["is_staff"])

    await database_sync_to_async(unstaff)()
    assert await closed_with(comm, timeout=RECHECK_WITHIN) == 4403


async def test_a_deleted_session_is_closed_with_4401():
    _user, cookie = await make_staff("logged-out")
    comm = await opened(cookie)
    await database_sync_to_async(lambda: Session.objects.all().delete())()
    assert await closed_with(comm, timeout=RECHECK_WITHIN) == 4401


async def test_a_password_change_elsewhere_closes_the_socket_with_4401():
    user, cookie = await make_staff("new-password")
    comm = await opened(cookie)

    def change_password():
        user.set_password("another-pw-5678")
        user.save(update_fields=["password"])

    await database_sync_to_async(change_password)()
    assert await closed_with(comm, timeout=RECHECK_WITHIN) == 4401


def test_rechecking_many_dashboard_sockets_costs_the_same_few_queries(
    django_user_model, django_assert_max_num_queries
):
    """The hub checks every dashboard socket of its process in one batch of queries."""
    from django.contrib.auth import get_user_model

    from dashboard.socket_auth import verdicts

    users = [
        get_user_model().objects.create_user(f"batch-{i}", password="pw-x-1234", is_staff=True)
        for i in range(6)
    ]
    viewer = Group.objects.get(name=roles.VIEWER)
    for user in users[:4]:
        user.groups.add(viewer)
    sockets = {}
    for i, user in enumerate(users):
        client = Client()
        client.force_login(user)
        sockets[f"c{i}"] = (client.session.session_key, user.pk)
    Session.objects.filter(session_key=sockets["c3"][0]).delete()
    with django_assert_max_num_queries(3):
        found = verdicts(sockets)
    assert found == {"c0": None, "c1": None, "c2": None, "c3": 4401, "c4": 4403, "c5": 4403}


# --- from which pages ---------------------------------------------------------------------


async def test_the_dashboard_socket_refuses_a_handshake_without_origin():
    _user, cookie = await make_staff("no-origin")
    comm = dashboard((b"host", HOST.encode()), cookie)
    connected, _ = await comm.connect()
    assert not connected


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port of an allowed host
        "https://127.0.0.1:8000",  # another scheme
        "http://evil.test",
        "http://127.0.0.1",
        "null",
    ],
)
async def test_the_dashboard_socket_refuses_another_origin(origin):
    _user, cookie = await make_staff("cross-site")
    comm = dashboard((b"host", HOST.encode()), (b"origin", origin.encode()), cookie)
    connected, _ = await comm.connect()
    assert not connected


async def test_the_dashboard_socket_refuses_a_host_that_is_not_allowed():
    """A rebound DNS name makes Origin and Host agree; the Host is still not ours."""
    _user, cookie = await make_staff("rebound")
    comm = dashboard((b"host", b"evil.test:8000"), (b"origin", b"http://evil.test:8000"), cookie)
    connected, _ = await comm.connect()
    assert not connected


async def test_a_listed_origin_may_open_the_dashboard_socket(settings):
    settings.DASHBOARD_ORIGINS = ["https://ops.example.org"]
    _user, cookie = await make_staff("listed")
    comm = dashboard((b"host", HOST.encode()), (b"origin", b"https://ops.example.org"), cookie)
    connected, _ = await comm.connect()
    assert connected
    assert 'hx-swap-oob="true"' in (await fragments(comm))[0]
    await comm.disconnect()


async def test_behind_a_tls_proxy_the_https_origin_of_the_same_host_is_accepted(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    _user, cookie = await make_staff("proxied")
    headers = [(b"host", HOST.encode()), (b"x-forwarded-proto", b"https")]
    good = dashboard(*headers, (b"origin", f"https://{HOST}".encode()), cookie)
    assert (await good.connect())[0]
    await good.disconnect()
    plain = dashboard(*headers, (b"origin", f"http://{HOST}".encode()), cookie)
    assert not (await plain.connect())[0]


def test_a_malformed_dashboard_origin_setting_stops_the_process(tmp_path):
    import os
    import subprocess
    import sys

    from tests.servers import ROOT

    env = {**os.environ, "DJANGO_DASHBOARD_ORIGINS": "ops.example.org/path"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "DJANGO_DASHBOARD_ORIGINS" in result.stderr

"""The dashboard socket as each role (the matrix of tests/dashboard/test_roles.py): open
to every role, closed with 4403 for a staff user with no group or with view permissions
only."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.dashboard.test_roles import NONE, ROLES, VIEW_ONLY, make_user
from tests.dashboard.test_stream import closed_with, communicator, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.mark.parametrize("role", ROLES)
async def test_the_dashboard_socket_is_open_exactly_to_roles(role):
    def make():
        return session_cookie(make_user(role, prefix="socket"))

    cookie = await database_sync_to_async(make)()
    comm = communicator("/ws/dashboard/", cookie)
    await comm.connect()
    if role in {NONE, VIEW_ONLY}:
        assert await closed_with(comm) == 4403
    else:
        first = await comm.receive_from(timeout=5)
        assert "hx-swap-oob" in first
        await comm.disconnect()

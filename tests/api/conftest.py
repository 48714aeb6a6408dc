from __future__ import annotations

import pytest
from django.test import Client
from django.test.client import ClientHandler

from api.actions import create_key
from config.handlers import BotApiChain
from tests.tournaments.helpers import checks_at_the_end


class BotApiClientHandler(BotApiChain, ClientHandler):
    """The test client's handler running the Bot API's middleware chain, as
    config.wsgi.application does for every /api/v1/ call but the docs page."""


def bot_api_client() -> Client:
    client = Client()
    client.handler = BotApiClientHandler()
    return client


class Bot:
    """A client holding one API key: `bot.post(path, json, key="...")`, through the Bot
    API's middleware chain (config.handlers)."""

    def __init__(self, issued):
        self.key, self.token = issued.key, issued.token
        self.client = bot_api_client()

    def _headers(self, key: str | None, token: str | None) -> dict:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def get(self, path: str, *, token: str | None = None, **params):
        return self.client.get(f"/api/v1{path}", params, headers=self._headers(None, token))

    def post(self, path: str, body=None, *, key: str | None = None, token: str | None = None):
        return self.client.post(
            f"/api/v1{path}",
            body if body is not None else {},
            content_type="application/json",
            headers=self._headers(key, token),
        )

    def patch(self, path: str, body, *, key: str | None = None):
        return self.client.patch(
            f"/api/v1{path}",
            body,
            content_type="application/json",
            headers=self._headers(key, None),
        )


@pytest.fixture
def make_bot(db):
    def make(*scopes: str, **kwargs) -> Bot:
        return Bot(create_key(label="test bot", scopes=scopes or ALL_SCOPES, **kwargs))

    return make


ALL_SCOPES = (
    "members:write",
    "ledger:write",
    "tournaments:write",
    "stories:write",
    "events:read",
)


@pytest.fixture
def bot(make_bot) -> Bot:
    return make_bot()


_deferred_checks_pass = pytest.fixture(autouse=True)(checks_at_the_end)


def this_database(tmp_path) -> str:
    """The test database's URL, for a server process: the rows a test made are what it
    serves (on SQLite the test database is a file both processes open)."""
    from django.db import connection

    from tests.servers import database_url_for_tests

    if connection.vendor == "sqlite":
        return f"sqlite:///{connection.settings_dict['NAME']}"
    return database_url_for_tests(tmp_path)

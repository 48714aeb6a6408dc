"""Keys kept per process (`api.keycache`): no query for a kept key, and a revocation is
refused on the very next request, by every process."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from api import keycache
from api.actions import create_key, revoke_key
from api.models import ApiKey
from tests.api.conftest import this_database
from tests.servers import WSGI_SERVERS, redis_server, run_django

on_redis = pytest.mark.skipif(
    "not __import__('api.keycache', fromlist=['enabled']).enabled()",
    reason="keys are kept only when the cache is Redis (shared by every process)",
)


@pytest.fixture(autouse=True)
def _fresh_copies():
    keycache.keys.clear()
    yield
    keycache.keys.clear()


def _key_queries(call) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        answer = call()
    return answer, [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and "api_apikey" in q["sql"]
    ]


@on_redis
@pytest.mark.django_db
def test_a_kept_key_is_not_read_again(make_bot):
    bot = make_bot("members:read")
    first, read = _key_queries(lambda: bot.get("/members/1"))
    assert first.status_code == 404
    assert len(read) == 1
    again, read = _key_queries(lambda: bot.get("/members/1"))
    assert again.status_code == 404
    assert read == []


@on_redis
@pytest.mark.django_db
def test_a_revocation_by_another_process_is_refused_at_once(make_bot):
    """Revoking touches no process's copies, only the generation: this process's copy
    stands for another process's."""
    bot = make_bot("members:read")
    assert bot.get("/members/1").status_code == 404
    assert keycache.keys.get(bot.key.prefix) is not None
    revoke_key(bot.key.prefix)
    assert keycache.keys.get(bot.key.prefix) is not None  # still there...
    assert bot.get("/members/1").status_code == 401  # ...and not used


@on_redis
@pytest.mark.django_db
def test_a_row_read_while_a_revocation_commits_is_not_used_after(
    make_bot, django_capture_on_commit_callbacks
):
    """A process reading the key between the revocation's first generation change and its
    commit sees the old row; the change at commit makes it read the row again."""
    bot = make_bot("members:read")
    with django_capture_on_commit_callbacks(execute=True):
        revoke_key(bot.key.prefix)
        before_commit = ApiKey.objects.get(pk=bot.key.pk)
        before_commit.revoked_at = None  # what another connection would still see
        before_commit.actor = bot.key.actor
        keycache.keys.put(bot.key.prefix, keycache.generation(), before_commit)
    assert bot.get("/members/1").status_code == 401


@pytest.mark.django_db
def test_a_wrong_secret_never_uses_up_the_keys_limit(make_bot):
    bot = make_bot("members:read")
    wrong = bot.token[:-2] + ("aa" if not bot.token.endswith("aa") else "bb")
    with override_settings(API_RATE_LIMITS={"default": (2, 60)}):
        assert bot.get("/members/1").status_code == 404
        assert [bot.get("/members/1", token=wrong).status_code for _ in range(4)] == [401] * 4
        assert bot.get("/members/1").status_code == 404
        assert bot.get("/members/1").status_code == 429


@pytest.mark.django_db
def test_a_revoked_key_past_its_limit_gets_401_not_429(make_bot):
    bot = make_bot("members:read")
    with override_settings(API_RATE_LIMITS={"default": (1, 60)}):
        assert bot.get("/members/1").status_code == 404
        revoke_key(bot.key.prefix)
        refused = bot.get("/members/1")
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", sorted(WSGI_SERVERS))
def test_two_workers_refuse_a_key_revoked_in_a_third_process_on_the_next_request(server, tmp_path):
    token = create_key(label="kept", scopes=["members:read"]).token
    prefix = token.split("_")[1]
    with redis_server() as (redis_url, _):
        env = {"DATABASE_URL": this_database(tmp_path), "REDIS_URL": redis_url}
        with WSGI_SERVERS[server](env, workers=2, threads=2) as (base, _):
            url = f"{base}/api/v1/members/1"
            # A new connection each: both workers read the key and keep it.
            assert {_get(url, token) for _ in range(16)} == {404}
            revoked = run_django(
                env,
                f"""
                from api.actions import revoke_key
                print(json.dumps({{"revoked": str(revoke_key({prefix!r}).revoked_at)}}))
                """,
            )
            assert revoked["revoked"] != "None"
            assert [_get(url, token) for _ in range(16)] == [401] * 16


@on_redis
@pytest.mark.django_db
def test_revoking_again_renews_the_generation(make_bot):
    """The remedy when a revocation could not reach Redis: revoke again once it is back."""
    bot = make_bot("members:read")
    revoke_key(bot.key.prefix)
    before = keycache.generation()
    revoke_key(bot.key.prefix)
    assert keycache.generation() != before

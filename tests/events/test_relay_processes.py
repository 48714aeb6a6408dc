"""The relay as a process, with real run_relay, daphne and redis-server processes: it
broadcasts in order, stops on SIGTERM, waits as a standby and takes over from a killed
leader with nothing lost or doubled at a websocket client; and on the embedded defaults,
an award from another process reaches the server's cached pages."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time

import pytest
from django.db import connection, transaction

import events
from events import live
from events.models import RelayPosition
from events.relay import STANDBY_LINE
from tests.events.helpers import publish
from tests.events.test_settled import hold_event, open_writing_transaction

pytestmark = pytest.mark.django_db(transaction=True)


def publish_public(count: int) -> list[int]:
    """`count` events that token streams are sent (a kind with a public projection,
    `dashboard.public`: a story published, as narrative.actions writes it)."""
    from narrative import payloads as narrative

    seqs = []
    for n in range(count):
        with transaction.atomic():
            data = narrative.story_published(story_id=n + 1, title=f"Relayed {n}")
            seqs.append(events.publish("narrative.story_published", data).seq)
    return seqs


# --- run_relay as a process (PostgreSQL and Redis) ------------------------------------------


class Listener:
    """A member of the events group on a private Redis, collecting what arrives."""

    def __init__(self, redis_url: str) -> None:
        from channels_redis.pubsub import RedisPubSubChannelLayer

        self.layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix="concord-relay-test:asgi")
        self.messages: list[dict] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.task = asyncio.run_coroutine_threadsafe(self._listen(), self.loop)
        assert self.ready.wait(10)

    async def _listen(self) -> None:
        channel = await self.layer.new_channel()
        await self.layer.group_add(live.GROUP, channel)
        self.ready.set()
        while True:
            message = await self.layer.receive(channel)
            if message.get("type") == live.MESSAGE_TYPE:
                self.messages.append(message)

    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.messages]

    def wait_for(self, seq: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while seq not in self.seqs():
            assert time.monotonic() < deadline, f"seq {seq} not broadcast: got {self.seqs()}"
            time.sleep(0.01)

    def close(self) -> None:
        self.task.cancel()
        asyncio.run_coroutine_threadsafe(self.layer.flush(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def services(tmp_path):
    from tests.servers import redis_server, stream_env

    RelayPosition.objects.all().delete()  # each relay here starts at the newest event
    with redis_server() as (redis_url, _):
        env = {**stream_env(tmp_path, redis_url), "CACHE_KEY_PREFIX": "concord-relay-test"}
        listener = Listener(redis_url)
        try:
            yield env, listener
        finally:
            listener.close()


def position() -> int:
    return RelayPosition.objects.get(name="default").seq


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(120)
def test_run_relay_broadcasts_committed_events_in_seq_order_and_advances_its_position(
    services, tmp_path
):
    from tests.servers import relay

    env, listener = services
    publish(1)  # the relay starts at the newest event
    with relay(env, tmp_path / "relay.log"):
        seqs = publish(20)
        listener.wait_for(seqs[-1])
        assert listener.seqs() == seqs
        deadline = time.monotonic() + 5
        while position() != seqs[-1]:
            assert time.monotonic() < deadline, "the position did not advance"
            time.sleep(0.02)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(120)
def test_sigterm_finishes_the_batch_in_hand_then_exits_0(services, tmp_path):
    from tests.servers import spawn_relay, wait_for_line

    env, listener = services
    publish(1)
    log = tmp_path / "relay.log"
    proc = spawn_relay(env, log)
    try:
        wait_for_line(log, "relay: leading", proc)
        other = open_writing_transaction(connection.settings_dict["NAME"])
        try:
            # `other` holds a seq below the next one: the batch has a gap, and the relay
            # holds it, waiting for `other` to end.
            hold_event(other)
            (seq,) = publish(1)
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            assert proc.poll() is None, "it left the batch in hand"
        finally:
            other.rollback()
            other.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    listener.wait_for(seq)
    assert listener.seqs() == [seq]
    assert position() == seq


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(120)
def test_a_second_relay_says_it_waits_and_sends_nothing_while_the_first_works(services, tmp_path):
    from tests.servers import relay, spawn_relay, stop, wait_for_line

    env, listener = services
    publish(1)
    with relay(env, tmp_path / "first.log"):
        second_log = tmp_path / "second.log"
        second = spawn_relay(env, second_log)
        try:
            wait_for_line(second_log, STANDBY_LINE, second)
            seqs = publish(10)
            listener.wait_for(seqs[-1])
            time.sleep(0.5)  # a second sender would have doubled them by now
            assert listener.seqs() == seqs
            time.sleep(1.0)  # retries every 0.5 s, and says so once
            assert second_log.read_text().count(STANDBY_LINE) == 1
            assert "leading" not in second_log.read_text()
        finally:
            stop(second)
        assert second.returncode == 0


def stream_client(base: str, token: str, after: int | None = None):
    from websockets.sync.client import connect

    query = f"?token={token}" + (f"&after={after}" if after is not None else "")
    return connect(base.replace("http", "ws") + f"/ws/stream/{query}", origin=base, open_timeout=10)


def collect_events(ws, want: set[int], timeout: float) -> list[int]:
    """Event seqs received until every seq of `want` has arrived (or `timeout`)."""
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while not want <= set(got):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            msg = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            break
        if msg["type"] == "event":
            got.append(msg["seq"])
    return got


def kill_and_time_takeover(leader, standby_log, standby) -> float:
    from tests.servers import wait_for_line

    killed = time.monotonic()
    os.kill(leader.pid, signal.SIGKILL)  # our own child
    leader.wait(timeout=10)
    wait_for_line(standby_log, "relay: leading", standby, timeout=10)
    return time.monotonic() - killed


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_killing_the_leader_hands_over_within_5s_with_nothing_lost_or_doubled_at_a_client(
    services, tmp_path
):
    from tests.servers import daphne, member_and_stream_token, spawn_relay, stop, wait_for_line

    env, _ = services
    made = member_and_stream_token(env, "failover-1")
    leader = spawn_relay(env, tmp_path / "leader.log")
    standby = None
    try:
        wait_for_line(tmp_path / "leader.log", "relay: leading", leader)
        standby = spawn_relay(env, tmp_path / "standby.log")
        wait_for_line(tmp_path / "standby.log", STANDBY_LINE, standby)
        with daphne(env) as base, stream_client(base, made["token"]) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            written: list[int] = []
            writing = threading.Event()
            writing.set()

            def writer():
                while writing.is_set():
                    written.extend(publish_public(1))
                    time.sleep(0.02)
                connection.close()

            thread = threading.Thread(target=writer)
            thread.start()
            try:
                time.sleep(1.0)
                took = kill_and_time_takeover(leader, tmp_path / "standby.log", standby)
                time.sleep(1.0)
            finally:
                writing.clear()
                thread.join()
            got = collect_events(ws, set(written), timeout=15)
        print(f"failover: the standby led {took:.2f} s after SIGKILL of the leader")
        assert took <= 5.0
        assert got == written, "every event once, in seq order"
    finally:
        stop(leader)
        if standby is not None:
            stop(standby)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_a_client_reconnecting_with_after_across_a_failover_misses_nothing(services, tmp_path):
    from tests.servers import daphne, member_and_stream_token, spawn_relay, stop, wait_for_line

    env, _ = services
    made = member_and_stream_token(env, "failover-2")
    leader = spawn_relay(env, tmp_path / "leader.log")
    standby = None
    try:
        wait_for_line(tmp_path / "leader.log", "relay: leading", leader)
        standby = spawn_relay(env, tmp_path / "standby.log")
        wait_for_line(tmp_path / "standby.log", STANDBY_LINE, standby)
        with daphne(env) as base:
            with stream_client(base, made["token"]) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"
                first = publish_public(5)
                assert collect_events(ws, set(first), timeout=10) == first
            missed = publish_public(3)  # while the client is away ...
            kill_and_time_takeover(leader, tmp_path / "standby.log", standby)
            missed += publish_public(3)  # ... and the relay fails over
            with stream_client(base, made["token"], after=first[-1]) as ws:
                got = collect_events(ws, set(missed), timeout=15)
                assert got == missed
                live_one = publish_public(1)
                assert collect_events(ws, set(live_one), timeout=10) == live_one
    finally:
        stop(leader)
        if standby is not None:
            stop(standby)


# --- embedded defaults: a writer in another process --------------------------------------------


def test_on_embedded_defaults_another_processs_award_shows_on_the_servers_cached_pages_within_1s(
    tmp_path,
):
    """`make run`, then an award from `manage.py shell` (as a bot process would): the
    serving process's local-memory cache hears of it through its embedded relay."""
    from tests.servers import ROOT, child_env, daphne

    if connection.vendor != "sqlite":
        pytest.skip("embedded defaults: SQLite and the in-memory channel layer")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}", "DJANGO_DEBUG": "1"}
    env = {k: v for k, v in child_env(env).items() if k != "REDIS_URL"}

    def manage(*args: str) -> str:
        result = subprocess.run(
            [os.sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    manage("migrate", "-v0")
    made = json.loads(
        manage(
            "shell",
            "-c",
            "import json\n"
            "from accounts.actions import register_member\n"
            "from django.contrib.auth import get_user_model\n"
            "m = register_member(platform='web', external_id='emb-1', username='Emb').member\n"
            "get_user_model().objects.create_superuser('emb', 'e@example.org', 'pw-emb-12345')\n"
            "print(json.dumps({'member': m.pk}))",
        )
        .strip()
        .splitlines()[-1]
    )
    with daphne({k: env[k] for k in ("DATABASE_URL", "DJANGO_DEBUG")}) as base:
        browser = logged_in(base, "emb", "pw-emb-12345")
        member_page = f"{base}/dashboard/members/{made['member']}/"
        assert 'data-amount="100"' in browser(member_page)  # the wallet, cached now
        assert f'data-member-id="{made["member"]}"' in browser(f"{base}/dashboard/")
        manage(
            "shell",
            "-c",
            "from accounts.models import Member\n"
            "from ledger.actions import award\n"
            f"award(Member.objects.get(pk={made['member']}), 273, reason='bot',"
            " idempotency_key='emb-award')",
        )
        written = time.monotonic()
        while True:
            page, home = browser(member_page), browser(f"{base}/dashboard/")
            if 'data-amount="373"' in page and 'data-amount="373"' in home:
                break
            assert time.monotonic() - written < 1.0, "the server's cached pages stayed stale"
            time.sleep(0.05)


def logged_in(base: str, username: str, password: str):
    """A cookie-keeping HTTP client logged in through the admin's login form."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/admin/login/", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": csrf, "next": "/"}
    ).encode()
    request = urllib.request.Request(
        f"{base}/admin/login/", data=data, headers={"Referer": f"{base}/admin/login/"}
    )
    opener.open(request, timeout=10).read()

    def get(url: str) -> str:
        return opener.open(url, timeout=10).read().decode()

    return get

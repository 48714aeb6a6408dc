"""The host publisher (`manage.py run_publisher`, `events.host`): writing processes hand it
their committed events; it bumps the caches, broadcasts and marks them, and answers
their waits. Without it (never started, stopped, killed) nothing is lost: events go
through the process's own publisher thread, or stay for the relay.

Real processes: run_publisher is started against the test database and Redis."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from dashboard import cache as cached
from events import host, live
from events.actions import publish
from events.models import Event
from ledger import actions as ledger
from tests.servers import ROOT, child_env, database_url_for_tests, stop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.redis,
]


def spawn_publisher(tmp_path, stderr=subprocess.PIPE) -> subprocess.Popen:
    env = child_env(
        {"DATABASE_URL": database_url_for_tests(tmp_path), "REDIS_URL": settings.REDIS_URL}
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_publisher"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def start_publisher(tmp_path, *, reset_link: bool = True) -> subprocess.Popen:
    """run_publisher serving this test's database; with `reset_link`, this process looks
    for it at its next event (else when its link tries again)."""
    with open(tmp_path / "run_publisher.log", "a") as log:  # a pipe nobody reads could fill
        proc = spawn_publisher(tmp_path, stderr=log)
    line = proc.stdout.readline()
    if "serving" not in line:
        stop(proc)
        pytest.fail(f"run_publisher did not start: {(tmp_path / 'run_publisher.log').read_text()}")
    # The same configuration gives the same socket: this process will find it.
    assert line.rstrip().endswith(f"(@{host.address()[1:].decode()})"), line
    if reset_link:
        host.link.reset()
    return proc


def end_publisher(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
    stop(proc)


@pytest.fixture
def host_publisher(tmp_path):
    """run_publisher serving this test's database; yields its process."""
    live.publisher.flush()
    proc = start_publisher(tmp_path)
    try:
        yield proc
    finally:
        end_publisher(proc)
        host.link.reset()


@pytest.fixture
def broadcasts():
    """What reaches the channel layer's group, read as a subscriber does:
    `broadcasts(seqs)` returns the messages carrying those seqs, in arrival order."""
    layer = get_channel_layer()
    client = redis.Redis.from_url(settings.REDIS_URL)
    loop = __import__("asyncio").new_event_loop()
    direct = live.DirectPubSub.for_layer(layer, loop)
    pubsub = client.pubsub()
    pubsub.subscribe(direct.channel)
    pubsub.get_message(timeout=2)  # the subscription's confirmation

    def receive(seqs, timeout: float = 5.0) -> list[dict]:
        wanted, got = set(seqs), []
        deadline = time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                body = layer.deserialize(message["data"])
                if body.get("seq") in wanted:
                    wanted.discard(body["seq"])
                    got.append(body)
        return got

    yield receive
    pubsub.close()
    direct.close()
    client.close()
    loop.close()


def publish_events(count: int, kind: str = "test.host", **data) -> list[int]:
    with transaction.atomic():
        return [publish(kind, {"n": n, **data}, subject=f"thing:{n}").seq for n in range(count)]


def unpublished(seqs) -> set[int]:
    return set(
        Event.objects.filter(seq__in=seqs, published_at__isnull=True).values_list("seq", flat=True)
    )


def test_committed_events_are_broadcast_and_marked_by_the_host_publisher_not_the_writer(
    host_publisher, broadcasts
):
    submitted = live.publisher._submitted
    seqs = publish_events(3)
    got = broadcasts(seqs)
    assert [m["seq"] for m in got] == seqs, "all three, in seq order"
    assert got[0]["kind"] == "test.host"
    assert got[0]["data"] == {"n": 0}
    assert live.publisher.flush(), "flush waits for the host publisher to mark them"
    assert unpublished(seqs) == set()
    assert live.publisher._submitted == submitted, "this process's own thread took nothing"


def test_a_read_right_after_a_write_sees_it_when_another_process_bumps_the_cache(
    host_publisher, alice
):
    submitted = live.publisher._submitted
    balance = cached.balance(alice.pk, "points")
    for i in range(5):
        assert cached.balance(alice.pk, "points") == balance  # cached now
        ledger.award(alice, 7, reason="quiz", idempotency_key=f"host-ryw-{i}")
        balance += 7
        # The bump is the host publisher's; the read asks it to answer once it is done.
        assert cached.balance(alice.pk, "points") == balance
    assert live.publisher._submitted == submitted


def _forked_writer(results) -> None:
    try:
        seqs = publish_events(2, kind="test.forked")
        flushed = live.publisher.flush()
        # The publisher thread starts (and takes this pid) at its first local event.
        own_thread = live.publisher._pid == os.getpid()
        results.put((seqs, flushed, host.link._sock is not None, own_thread))
    except BaseException as exc:  # reported to the test
        results.put(repr(exc))
    finally:
        connections.close_all()


def test_a_forked_process_hands_its_events_over_on_its_own_connection(host_publisher):
    publish_events(1)  # this process is connected before the fork
    assert live.publisher.flush()
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_forked_writer, args=(results,))
    child.start()
    outcome = results.get(timeout=30)
    child.join(10)
    assert not isinstance(outcome, str), outcome
    seqs, flushed, connected, own_thread = outcome
    assert flushed
    assert connected
    assert not own_thread, "the child's own publisher thread never started"
    assert unpublished(seqs) == set()


def test_events_handed_over_before_the_host_publisher_stops_are_sent_and_later_ones_go_local(
    host_publisher, broadcasts
):
    first = publish_events(2)
    host_publisher.send_signal(signal.SIGTERM)
    assert host_publisher.wait(timeout=10) == 0
    assert unpublished(first) == set(), "it sent and marked what it held before exiting"
    submitted = live.publisher._submitted
    later = publish_events(2)
    assert [m["seq"] for m in broadcasts(later)] == later
    assert live.publisher._submitted == submitted + 2, "this process's own thread sent them"
    assert live.publisher.flush()
    assert unpublished(later) == set()


def test_events_a_killed_host_publisher_held_are_left_for_the_relay(host_publisher):
    os.kill(host_publisher.pid, signal.SIGSTOP)  # it takes nothing from its socket now
    held = publish_events(2)
    os.kill(host_publisher.pid, signal.SIGKILL)
    host_publisher.wait(timeout=10)
    assert unpublished(held) == set(held)
    assert live.relay(min_age=0) >= 2
    assert unpublished(held) == set()
    # The next event finds the connection broken and goes through this process's thread.
    submitted = live.publisher._submitted
    later = publish_events(1)
    assert live.publisher._submitted == submitted + 1
    assert live.publisher.flush()
    assert unpublished(later) == set()


def test_an_event_too_big_for_one_message_goes_through_the_writers_own_thread(host_publisher):
    submitted = live.publisher._submitted
    small = publish_events(1)
    big = publish_events(1, blob="x" * (host.MAX_MESSAGE + 1))
    assert live.publisher._submitted == submitted + 1
    assert live.publisher.flush()
    assert unpublished(small + big) == set()


def _insert_unpublished() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_event (kind, actor_id, subject, data, created_at, published_at)"
            " VALUES ('test.forged', NULL, '', '{}', %s, NULL) RETURNING seq",
            [timezone.now()],
        )
        return cursor.fetchone()[0]


def _send_as(uid: int | None, message: list) -> None:
    """From a forked child running as `uid` (None: ours): one message, then close."""
    where = host.address()  # named after our user: found before becoming another
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if uid is not None:
                os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
                sock.connect(where)
                # Refused: the host publisher may close the connection before this send.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.send(json.dumps(message).encode())
                    time.sleep(0.3)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to send as another user")
def test_the_host_publisher_takes_messages_only_from_its_own_user(host_publisher):
    seq = _insert_unpublished()
    message = ["e", 1, seq, "test.forged", None, "", timezone.now().isoformat(), {}]
    _send_as(65534, message)  # nobody
    time.sleep(1.0)
    assert unpublished([seq]) == {seq}, "another user's message was refused"
    _send_as(None, message)  # the same message from our own user is taken
    deadline = time.monotonic() + 5
    while unpublished([seq]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert unpublished([seq]) == set()


def test_a_second_host_publisher_for_the_same_configuration_refuses_in_one_line(
    host_publisher, tmp_path
):
    second = spawn_publisher(tmp_path)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert err.strip().splitlines() == [
        "CommandError: another host publisher already serves this database, cache and"
        " channel layer here"
    ]


def test_processes_of_another_database_never_meet_the_host_publisher(host_publisher):
    mine = host.address()
    assert host.link._connected() is not None, "this database's writers find it"
    name = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = name + "_other"
    host.link.reset()
    try:
        assert host.address() not in (None, mine)
        assert host.link._connected() is None, "another database's writers do not"
    finally:
        connection.settings_dict["NAME"] = name
        host.link.reset()


def test_a_stuck_host_publisher_costs_one_wait_then_writers_publish_their_own(
    host_publisher, alice
):
    assert cached.balance(alice.pk, "points") == 100
    os.kill(host_publisher.pid, signal.SIGSTOP)
    ledger.award(alice, 5, reason="quiz", idempotency_key="host-stuck-1")
    began = time.monotonic()
    # Its bump cannot be confirmed: after BUMP_WAIT the read comes from the database.
    assert cached.balance(alice.pk, "points") == 105
    assert 0.9 < time.monotonic() - began < 3
    # The bump is still not done (the cache holds 100): the next read must not trust it.
    began = time.monotonic()
    assert cached.balance(alice.pk, "points") == 105
    assert time.monotonic() - began < 0.5, "and it does not wait again"
    # The link is dropped: the next write is broadcast here, and its read does not wait.
    submitted = live.publisher._submitted
    ledger.award(alice, 5, reason="quiz", idempotency_key="host-stuck-2")
    began = time.monotonic()
    assert cached.balance(alice.pk, "points") == 110
    assert time.monotonic() - began < 0.5
    assert live.publisher._submitted == submitted + 1
    os.kill(host_publisher.pid, signal.SIGCONT)  # it wakes and sends the first one late
    deadline = time.monotonic() + 5
    while unpublished(Event.objects.values_list("seq", flat=True)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert unpublished(Event.objects.values_list("seq", flat=True)) == set()


def test_writers_find_a_restarted_host_publisher_by_themselves(host_publisher, tmp_path):
    host_publisher.send_signal(signal.SIGTERM)
    assert host_publisher.wait(timeout=10) == 0
    publish_events(1)  # no host publisher: this process's own thread; checks again in 1 s
    replacement = start_publisher(tmp_path, reset_link=False)
    try:
        time.sleep(host.RETRY_AFTER + 0.1)
        submitted = live.publisher._submitted
        seqs = publish_events(2)
        assert live.publisher._submitted == submitted, "handed over to the new one"
        assert live.publisher.flush()
        assert unpublished(seqs) == set()
    finally:
        end_publisher(replacement)

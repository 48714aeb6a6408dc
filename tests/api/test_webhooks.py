"""Webhooks, sent in this process (`api.delivery.tick`, what the Celery task and the
in-process runner call) to a real HTTP receiver on the loopback that verifies every
signature with the `standardwebhooks` library: order, a receiver down for a while,
a wrong secret, automatic disabling, redelivery, and what a key may see."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from accounts.actions import register_member
from api import delivery
from api.actions import create_endpoint, enqueue_deliveries, record_attempt
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from events.models import Event
from ledger.actions import award
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def short_back_off(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0.05, 0.05, 0.05]


@pytest.fixture
def hook(make_bot):
    """A bot (events:read, webhooks:manage) with an endpoint at a live receiver."""
    bot = make_bot("events:read", "webhooks:manage", "members:write")
    receiver = Receiver()
    answer = bot.post("/webhooks", {"url": receiver.url})
    assert answer.status_code == 201, answer.content
    receiver.secret = answer.json()["secret"]
    yield bot, receiver, answer.json()
    receiver.close()


def members(n: int, start: int = 0) -> list[int]:
    found = [register_member(platform="web", external_id=f"wh{start + i}") for i in range(n)]
    return [r.member.pk for r in found]


def run_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the deliveries did not arrive in time"
        delivery.tick()
        time.sleep(0.02)


def public_seqs(bot, after: int) -> list[int]:
    return [e["seq"] for e in bot.get("/events", after=after, limit=500).json()["events"]]


def test_deliveries_are_signed_and_arrive_in_seq_order_as_the_events_endpoint_answers(hook):
    bot, receiver, created = hook
    assert created["secret"].startswith("whsec_")
    assert created["position"] >= 0
    members(3)
    alice = register_member(platform="web", external_id="wh-a").member
    award(alice, 5, reason="Quiz answer", idempotency_key="wh-1")
    expected = public_seqs(bot, created["position"])
    assert len(expected) >= 5
    run_until(lambda: len(receiver.accepted) == len(expected))
    assert receiver.seqs() == expected
    assert receiver.rejected == []
    first = receiver.accepted[0]
    assert first["type"] == "member.registered"
    assert "external_id" not in first["data"]
    assert first["id"] == f"msg_{created['id']}_{first['seq']}"
    assert receiver.accepted[-1]["type"] == "ledger.transfer_posted"
    delivered = WebhookDelivery.objects.filter(status="delivered").count()
    assert delivered == len(expected)
    assert WebhookAttempt.objects.filter(ok=True).count() == len(expected)


def test_a_receiver_down_for_a_while_gets_every_event_in_order_afterwards(hook):
    bot, receiver, created = hook
    receiver.mode = "503"
    members(3)
    delivery.tick()
    # Only the first was tried: seq N+1 waits while N is not delivered.
    head = WebhookDelivery.objects.order_by("seq").first()
    tried = list(WebhookDelivery.objects.order_by("seq").values_list("attempts", flat=True))
    assert len(tried) >= 3
    assert tried == [1] + [0] * (len(tried) - 1)
    assert head.attempt_log.get().status_code == 503
    receiver.down()  # now the port refuses connections
    time.sleep(0.06)
    delivery.tick()
    head.refresh_from_db()
    attempt = head.attempt_log.order_by("number").last()
    assert head.attempts == 2
    assert attempt.status_code is None
    assert "Connection" in attempt.error
    members(2, start=10)  # more events while it is down
    receiver.mode = "up"
    receiver.up()
    expected = public_seqs(bot, created["position"])
    run_until(lambda: len(receiver.accepted) == len(expected))
    assert receiver.seqs() == expected
    assert receiver.seqs() == sorted(receiver.seqs())
    assert WebhookEndpoint.objects.get().enabled


def test_a_receiver_with_another_secret_refuses_every_message(hook):
    _bot, receiver, _ = hook
    receiver.secret = "whsec_" + "QUJD" * 8  # someone else's secret
    members(1)
    delivery.tick()
    assert receiver.accepted == []
    assert receiver.rejected == ["No matching signature found"]
    assert WebhookDelivery.objects.order_by("seq").first().status == "pending"


def test_signatures_follow_the_standard_webhooks_scheme(hook):
    _, _, created = hook
    payload = b'{"type":"x"}'
    at = delivery.timezone.now()
    headers = delivery.signed_headers(created["secret"], "msg_1_2", payload, at)
    assert Webhook(created["secret"]).verify(payload, headers) == {"type": "x"}
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(payload, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(b'{"type":"y"}', headers)


def test_when_the_retries_run_out_the_endpoint_is_disabled_with_an_event(hook):
    bot, receiver, _created = hook
    receiver.mode = "503"
    members(2)
    run_until(lambda: not WebhookEndpoint.objects.get().enabled)
    endpoint = WebhookEndpoint.objects.get()
    failed = WebhookDelivery.objects.order_by("seq").first()
    first = failed.seq
    assert failed.status == "failed"
    assert failed.attempts == 4
    assert "retries ran out" in endpoint.disabled_reason
    event = Event.objects.filter(kind="api.webhook_disabled").get()
    assert event.data["webhook_id"] == endpoint.pk
    assert event.data["seq"] == first
    # The next one waits for the endpoint to be enabled again; then it goes.
    later = list(WebhookDelivery.objects.exclude(seq=first).order_by("seq"))
    assert later
    assert all(d.attempts == 0 for d in later)
    receiver.mode = "up"
    assert bot.patch(f"/webhooks/{endpoint.pk}", {"enabled": True}).status_code == 200
    run_until(lambda: len(receiver.accepted) == len(later))
    assert receiver.seqs() == [d.seq for d in later]


def test_a_delivery_is_sent_again_on_request_with_the_same_message_id(hook):
    bot, receiver, created = hook
    members(1)
    count = len(public_seqs(bot, created["position"]))
    run_until(lambda: len(receiver.accepted) == count)
    sent = WebhookDelivery.objects.order_by("seq").first()
    answer = bot.post(f"/webhooks/{created['id']}/deliveries/{sent.pk}/redeliver")
    assert answer.status_code == 202
    assert answer.json()["status"] == "pending"
    run_until(lambda: len(receiver.accepted) == count + 1)
    assert receiver.accepted[count] == receiver.accepted[0]
    sent.refresh_from_db()
    assert sent.status == "delivered"
    assert sent.attempts == 2
    log = bot.get(f"/webhooks/{created['id']}/deliveries").json()["items"]
    assert [a["number"] for a in log[-1]["log"]] == [1, 2]
    assert Event.objects.filter(kind="api.webhook_redelivered").count() == 1


def test_redelivering_to_a_disabled_endpoint_is_refused_and_changes_nothing(hook):
    bot, receiver, created = hook
    members(1)
    run_until(lambda: len(receiver.accepted) == len(public_seqs(bot, created["position"])))
    sent = WebhookDelivery.objects.order_by("seq").first()
    bot.patch(f"/webhooks/{created['id']}", {"enabled": False})
    answer = bot.post(f"/webhooks/{created['id']}/deliveries/{sent.pk}/redeliver")
    assert answer.status_code == 409
    assert answer.json()["code"] == "webhook_disabled"
    sent.refresh_from_db()
    assert sent.status == "delivered"
    assert sent.attempts == 1


def test_kinds_limit_what_an_endpoint_receives(make_bot):
    bot = make_bot("events:read", "webhooks:manage")
    receiver = Receiver()
    try:
        answer = bot.post("/webhooks", {"url": receiver.url, "kinds": ["ledger.transfer_posted"]})
        receiver.secret = answer.json()["secret"]
        alice = register_member(platform="web", external_id="wh-k").member
        award(alice, 7, reason="Quiz answer", idempotency_key="wh-2")
        wanted = bot.get("/events", after=answer.json()["position"]).json()["events"]
        transfers = [e["seq"] for e in wanted if e["kind"] == "ledger.transfer_posted"]
        assert len(transfers) < len(wanted)
        run_until(lambda: len(receiver.accepted) == len(transfers))
        delivery.tick()
        assert receiver.seqs() == transfers
        assert {m["type"] for m in receiver.accepted} == {"ledger.transfer_posted"}
        last = receiver.accepted[-1]["data"]
        assert last["postings"] == [{"member_id": alice.pk, "amount": 7}]
    finally:
        receiver.close()


def test_the_default_schedule_retries_for_more_than_a_day_then_gives_up(make_bot, clock):
    import config.settings as configured

    schedule = configured.WEBHOOK_RETRY_SCHEDULE
    assert sum(schedule) >= 24 * 3600
    bot = make_bot("events:read", "webhooks:manage")
    endpoint = create_endpoint(bot.key, url="http://127.0.0.1:9/x").endpoint
    body = {"type": "member.registered", "timestamp": None, "seq": 1, "data": {}}
    after = endpoint.position
    message = {"seq": after + 1, "kind": "member.registered", "body": body}
    enqueue_deliveries(endpoint.pk, after=after, upto=after + 1, messages=[message])
    queued = WebhookDelivery.objects.get()
    started = delivery.timezone.now()
    for pause in schedule:
        now = delivery.timezone.now()
        done = record_attempt(
            queued.pk,
            at=now,
            ok=False,
            status_code=500,
            error="HTTP 500",
            duration_ms=3,
            schedule=schedule,
        )
        assert done.status == "pending"
        assert done.next_attempt_at == now + timedelta(seconds=pause)
        clock.advance(seconds=pause)
    done = record_attempt(
        queued.pk,
        at=delivery.timezone.now(),
        ok=False,
        status_code=None,
        error="refused",
        duration_ms=1,
        schedule=schedule,
    )
    assert done.status == "failed"
    assert done.attempts == len(schedule) + 1
    assert delivery.timezone.now() - started >= timedelta(hours=24)
    assert not WebhookEndpoint.objects.get().enabled


def test_a_key_manages_only_its_own_webhooks_and_needs_the_scopes(make_bot):
    owner = make_bot("events:read", "webhooks:manage")
    other = make_bot("events:read", "webhooks:manage")
    reader = make_bot("events:read")
    blind = make_bot("webhooks:manage")
    made = owner.post("/webhooks", {"url": "https://bot.example.org/hook", "scope": "ticker"})
    assert made.status_code == 201
    webhook_id = made.json()["id"]
    assert "secret" not in owner.get(f"/webhooks/{webhook_id}").json()
    assert other.get(f"/webhooks/{webhook_id}").status_code == 404
    assert other.get("/webhooks").json() == []
    assert reader.get("/webhooks").status_code == 403
    refused = blind.post("/webhooks", {"url": "https://bot.example.org/hook"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_webhook"
    bad = owner.post("/webhooks", {"url": "ftp://x", "kinds": ["staff.note"]})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_webhook"
    bad_scope = owner.post("/webhooks", {"url": "https://x.org/", "scope": "everything"})
    assert bad_scope.status_code == 422
    assert (
        owner.client.delete(
            f"/api/v1/webhooks/{webhook_id}", headers=owner._headers(None, None)
        ).status_code
        == 204
    )
    assert not WebhookEndpoint.objects.exists()
    kinds = set(Event.objects.values_list("kind", flat=True))
    assert {"api.webhook_created", "api.webhook_deleted"} <= kinds

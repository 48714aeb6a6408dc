"""The api's copies of an erased member's data, scrubbed in `erase_member`'s transaction
(`accounts.signals.member_erased`): webhook deliveries' bodies (sent or not: the
delivery log shows them, and a pending one is sent with the tombstone) and the stored
answers of idempotent member requests (a replay answers with the tombstones), the
refused ones that name the member included."""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import Q, QuerySet

from api.models import IdempotentRequest, WebhookDelivery, WebhookEndpoint
from api.sql import statement

BATCH = 500
_ENDPOINTS_KEY_SHARE = statement("webhook_endpoints_key_share")


def deliveries_of(seqs: list[int]) -> QuerySet[WebhookDelivery]:
    """The deliveries of events `seqs`, to lock (`of` self: the model's ordering by
    endpoint would join the endpoints, and FOR UPDATE lock them too). Found by endpoint
    and seq, so that the unique (endpoint, seq) index finds them whatever the table holds
    (endpoints are few)."""
    return (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .filter(endpoint__in=WebhookEndpoint.objects.values("pk"), seq__in=seqs)
        .order_by("endpoint_id", "seq")
        .only("pk", "body")
    )


def _hold_endpoints() -> None:
    """The endpoints' rows first, then the deliveries', the order every writer of
    deliveries keeps (`api.actions.webhooks`), so that none deadlocks with the scrub. FOR
    KEY SHARE: the writers that lock an endpoint FOR UPDATE (pruning, enabling, recording
    an attempt) wait until the erasure commits; the sender's lease (an UPDATE of a column
    no key holds) goes on."""
    with connection.cursor() as cursor:
        cursor.execute(_ENDPOINTS_KEY_SHARE)


def scrub_member_copies(sender, *, member, scrub, seqs: list[int], **_) -> None:
    if seqs and connection.vendor == "postgresql":
        _hold_endpoints()
    for start in range(0, len(seqs), BATCH):
        deliveries = list(deliveries_of(seqs[start : start + BATCH]))
        changed = []
        for delivery in deliveries:
            body = {**delivery.body, "data": scrub.apply(delivery.body.get("data"))}
            if body != delivery.body:
                delivery.body = body
                changed.append(delivery)
        WebhookDelivery.objects.bulk_update(changed, ["body"], batch_size=BATCH)
    about = re.escape(f"/members/{member.pk}")
    # Refused requests name the member too: another registration with their address, a
    # link of their identity to someone else (kept for replays, 24 h at least).
    mentions = Q(request_body__external_id__in=scrub.external_ids)
    for email in scrub.emails:
        mentions |= Q(request_body__email__iexact=email)
    answers = list(
        IdempotentRequest.objects.select_for_update()
        .filter(
            Q(path__regex=rf"{about}(/|$)")
            | Q(path__regex=r"/members/?$", response_body__id=member.pk)
            | (Q(path__regex=r"/members(/[0-9]+/identities)?/?$") & mentions)
        )
        .only("pk", "request_body", "response_body")
    )
    for answer in answers:
        answer.request_body = scrub.apply(answer.request_body)
        answer.response_body = scrub.apply(answer.response_body)
    IdempotentRequest.objects.bulk_update(answers, ["request_body", "response_body"])

"""Two requests with one Idempotency-Key at once: the work runs once, both get its answer.

No HTTP here, and no help from the ledger's own key: the work is a plain function that
counts its runs and takes its time, so only the stored row (inserted first, unique per
API key and Idempotency-Key) can keep the second request from running it too."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection
from django.test import RequestFactory

from api import idempotency
from api.actions import create_key

pytestmark = pytest.mark.django_db(transaction=True)


def race(key, work, *, callers: int, idempotency_key: str) -> list:
    """`callers` threads released together, each answering one request with
    `idempotency_key` through `idempotency.write(..., work)`: (status, body) each."""
    answers: list = [None] * callers
    barrier = threading.Barrier(callers)

    def call(i: int) -> None:
        request = RequestFactory().post(
            "/api/v1/x",
            headers={"Idempotency-Key": idempotency_key},
            content_type="application/json",
        )
        request.auth = key
        barrier.wait()
        try:
            response = idempotency.write(request, {"a": 1}, work, moves_value=False)
            answers[i] = (response.status_code, response.content)
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_concurrent_requests_with_one_key_run_the_work_once():
    key = create_key(label="race", scopes=["members:write"]).key
    runs: list[int] = []

    def work():
        runs.append(1)
        time.sleep(0.5)  # the others arrive while this one's transaction is open
        return 201, {"run": len(runs)}

    answers = race(key, work, callers=6, idempotency_key="once")
    assert len(runs) == 1
    assert set(answers) == {(201, b'{"run": 1}')}


def test_a_refusal_undoes_the_work_and_is_the_answer_of_every_request_with_the_key():
    from accounts.exceptions import AccountsError
    from api.models import ApiKey, IdempotentRequest

    key = create_key(label="refusals", scopes=["members:write"]).key
    runs: list[int] = []

    def work():
        runs.append(1)
        create_key(label=f"half-done {len(runs)}", scopes=["events:read"])  # undone below
        time.sleep(0.3)
        raise AccountsError(f"refused on run {len(runs)}")

    answers = race(key, work, callers=4, idempotency_key="refused")
    assert None not in answers
    # A replayed answer comes from jsonb (keys reordered): compared as JSON.
    answers = [(status, json.loads(body)) for status, body in answers]
    assert not ApiKey.objects.filter(label__startswith="half-done").exists()
    assert all(answer == answers[0] for answer in answers)
    status, body = answers[0]
    assert status == 422
    assert body["detail"].startswith("refused on run")
    stored = IdempotentRequest.objects.get(api_key=key, key="refused")
    assert stored.status == status

"""The scheduled integrity report, run by a real Celery worker through the real broker."""

from __future__ import annotations

import time
import uuid

import pytest
from django.conf import settings

from accounts.actions import register_member
from integrity.models import IntegrityRun
from integrity.tasks import run_integrity_report
from tests.servers import celery_worker, database_url_for_tests

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_celery_worker_runs_the_integrity_report_and_stores_it(tmp_path):
    if not database_url_for_tests(tmp_path).startswith("postgres"):
        pytest.skip("the worker needs a database shared with the test (PostgreSQL)")
    register_member(platform="web", external_id="w1")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": database_url_for_tests(tmp_path), "REDIS_URL": settings.REDIS_URL}
    with celery_worker(env, queue) as worker:
        run_integrity_report.apply_async(queue=queue)
        deadline = time.monotonic() + 60
        while not IntegrityRun.objects.exists() and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stdout.read().decode()[-3000:]
            time.sleep(0.2)
    run = IntegrityRun.objects.get()
    assert run.ok is True
    assert any(c["name"] == "accounts.member_has_profile" for c in run.report["checks"])

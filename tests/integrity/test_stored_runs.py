"""The report keeps its runs: the command (unless --no-store), the schedule and the
dashboard's "Run now" all store an `IntegrityRun` with an `integrity.run_finished` event,
and the dashboard's integrity page shows each check with its samples and the runs."""

from __future__ import annotations

import time
import uuid
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from accounts.actions import register_member
from events.models import Event
from integrity.models import IntegrityRun
from tests.dashboard.test_roles import EVERY_ROLE, NONE, ROLES, make_user, snapshot
from tests.helpers import raw_write
from tests.integrity.test_integrity_report import (  # noqa: F401 (a fixture)
    drop_rule,
    lift_check_constraints_on_sqlite,
)
from tests.servers import celery_worker, database_url_for_tests

pytestmark = pytest.mark.django_db

RUNNERS = {"Treasurer", "Owner"}  # integrity.run_report (docs/SECURITY.md)


def command(*args) -> int:
    try:
        call_command("integrity_report", "--format", "json", *args, stdout=StringIO())
    except SystemExit as exc:
        return exc.code
    return 0


def test_the_command_keeps_a_full_run_with_its_event_unless_told_not_to(alice):
    assert command() == 0
    run = IntegrityRun.objects.get()
    assert run.ok
    assert run.failed_checks == 0
    event = Event.objects.get(kind="integrity.run_finished")
    assert event.data["run_id"] == run.pk
    assert event.data["ok"] is True
    assert event.data["failed"] == []
    assert event.data["checks"] == len(run.report["checks"])
    assert command("--no-store") == 0
    assert command("--check", "accounts.member_has_profile") == 0  # a part: not kept
    assert IntegrityRun.objects.count() == 1
    assert Event.objects.filter(kind="integrity.run_finished").count() == 1


def plant_self_referral(member) -> None:
    """A violation the report finds (the database's own rule lifted for this test)."""
    drop_rule("check", "accounts_member_no_self_referral", "accounts_member")
    raw_write("UPDATE accounts_member SET referred_by_id = id WHERE id = %s", [member.pk])


@pytest.mark.usefixtures("lift_check_constraints_on_sqlite")
def test_a_failing_run_is_kept_naming_its_failed_checks(alice):
    plant_self_referral(alice)
    assert command() == 1
    run = IntegrityRun.objects.get()
    assert not run.ok
    assert run.failed_checks >= 1
    failed = Event.objects.get(kind="integrity.run_finished").data["failed"]
    assert "accounts.no_self_referral" in failed


@pytest.mark.usefixtures("lift_check_constraints_on_sqlite")
@pytest.mark.parametrize("role", ROLES)
def test_the_integrity_page_shows_checks_samples_and_runs_to_every_role(client, role, alice):
    assert command() == 0
    plant_self_referral(alice)
    assert command() == 1
    older, latest = IntegrityRun.objects.order_by("started_at")
    client.force_login(make_user(role))
    page = client.get("/dashboard/integrity/")
    if role not in EVERY_ROLE:
        assert page.status_code == 403
        return
    body = page.content.decode()
    assert page.status_code == 200
    assert "check failing" in body
    assert 'data-check="accounts.no_self_referral"' in body
    failing = body.split('data-check="accounts.no_self_referral"')[1].split("</tr>")[0]
    assert "failed" in failing
    assert f"<td>{alice.pk}</td>" in failing  # the sample
    assert f'data-run-id="{older.pk}"' in body
    assert f'data-run-id="{latest.pk}"' in body
    assert ("Run now" in body) == (role in RUNNERS)
    earlier = client.get("/dashboard/integrity/", {"run": older.pk}).content.decode()
    assert "All checks passed" in earlier
    assert client.get("/dashboard/integrity/", {"run": 987654}).status_code == 404


def test_the_home_tile_links_to_the_page_and_says_not_run_yet_until_a_run(client):
    from django.core.cache import cache

    def home() -> str:
        cache.delete("dashboard:counters")  # the counters are shared for a second
        return client.get("/dashboard/").content.decode()

    client.force_login(make_user("Viewer"))
    assert "not run yet" in home()
    assert command("--no-store") == 0
    assert "not run yet" in home()
    assert command() == 0
    page = home()
    assert "not run yet" not in page
    assert 'href="/dashboard/integrity/"' in page


@pytest.mark.parametrize("role", [r for r in ROLES if r not in RUNNERS])
def test_run_now_is_refused_to_other_roles_and_writes_nothing(client, role):
    client.force_login(make_user(role))
    before = snapshot()
    assert client.post("/dashboard/integrity/run").status_code == 403
    assert snapshot() == before
    assert role == NONE or "Run now" not in client.get("/dashboard/integrity/").content.decode()


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="eager tasks: embedded defaults only")
def test_run_now_on_embedded_defaults_runs_before_the_answer_naming_who_asked(client, alice):
    owner = make_user("Owner")
    client.force_login(owner)
    response = client.post("/dashboard/integrity/run", follow=True)
    assert response.status_code == 200
    run = IntegrityRun.objects.get()
    event = Event.objects.get(kind="integrity.run_finished")
    assert event.actor_id == owner.pk
    assert event.data["run_id"] == run.pk
    body = response.content.decode()
    assert "Integrity report started" in body
    assert "All checks passed" in body
    assert "Running: asked" not in body  # nothing left to wait for: no polling


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_run_now_hands_the_report_to_a_celery_worker_and_the_page_polls_until_it_is_kept(
    client, tmp_path
):
    if not database_url_for_tests(tmp_path).startswith("postgres"):
        pytest.skip("the worker needs a database shared with the test (PostgreSQL)")
    register_member(platform="telegram", external_id="4242")
    treasurer = make_user("Treasurer", prefix=f"t{uuid.uuid4().hex[:6]}")
    client.force_login(treasurer)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": database_url_for_tests(tmp_path), "REDIS_URL": settings.REDIS_URL}
    with override_settings(CELERY_TASK_DEFAULT_QUEUE=queue):
        assert client.post("/dashboard/integrity/run").status_code == 302
        again = client.post("/dashboard/integrity/run", follow=True).content.decode()
        assert "A run is already on its way" in again  # pressed twice: still one run
        waiting = client.get("/dashboard/integrity/").content.decode()
        assert "Running: asked" in waiting
        assert 'hx-trigger="every 2s"' in waiting
        with celery_worker(env, queue) as worker:
            deadline = time.monotonic() + 60
            while not IntegrityRun.objects.exists() and time.monotonic() < deadline:
                assert worker.poll() is None, worker.stdout.read().decode()[-3000:]
                time.sleep(0.2)
    run = IntegrityRun.objects.get()
    assert run.ok
    assert Event.objects.get(kind="integrity.run_finished").actor_id == treasurer.pk
    done = client.get("/dashboard/integrity/").content.decode()
    assert "Running: asked" not in done
    assert "All checks passed" in done

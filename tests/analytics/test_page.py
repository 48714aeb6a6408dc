"""The analytics page: who may open it, what it shows, and its CSV (the same numbers as
its tables)."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group

from analytics.actions import rebuild_days
from dashboard.roles import VIEWER
from tests.factories import UserFactory


@pytest.fixture
def viewer(client, db):
    user = UserFactory(username="viewer")
    user.groups.add(Group.objects.get(name=VIEWER))
    client.force_login(user)
    return client


def test_a_viewer_opens_the_analytics_page(viewer, history):
    rebuild_days(history.today, history.closes)
    response = viewer.get("/dashboard/analytics/", {"range": "7d"})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-chart="members"' in body
    assert 'id="analytics-data"' in body
    assert "/static/vendor/uplot/uPlot.iife.min.js" in body
    assert 'href="/dashboard/analytics/"' in body  # the nav link
    assert 'data-tile="Registered"' in body
    assert 'hx-get="/dashboard/analytics/today" hx-trigger="load"' in body  # today, live
    tile = viewer.get("/dashboard/analytics/today").content.decode()
    assert 'hx-trigger="every 10s"' in tile
    assert 'data-today="registered">5<' in tile


def test_staff_without_a_role_is_refused(client, db):
    client.force_login(UserFactory(username="nobody"))
    response = client.get("/dashboard/analytics/")
    assert response.status_code == 403
    assert "<canvas" not in response.content.decode()
    assert "analytics-data" not in response.content.decode()
    assert client.get("/dashboard/analytics/members.csv").status_code == 403
    assert client.get("/dashboard/analytics/today").status_code == 403


def test_the_csv_holds_the_charts_numbers(viewer, history):
    rebuild_days(history.today, history.closes)
    response = viewer.get("/dashboard/analytics/members.csv", {"range": "7d"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["bucket", "registered", "registered, previous period"]
    assert len(rows) == 1 + 7
    today = next(row for row in rows if row[0].startswith(history.today.isoformat()))
    assert today[1] == "5"
    assert today[rows[0].index("daily active")] == "4"
    page = viewer.get("/dashboard/analytics/", {"range": "7d"}).content.decode()
    assert f'<th scope="row">{today[0]}</th><td>5</td>' in page  # the table says the same


def test_the_funnel_and_cohort_csvs(viewer, history):
    rebuild_days(history.today, history.closes)
    funnel = viewer.get("/dashboard/analytics/funnel.csv", {"range": "30d"}).content.decode()
    rows = list(csv.reader(io.StringIO(funnel)))
    assert rows[1][:4] == [history.story.title, "1", "3", "2"]
    cohorts = viewer.get("/dashboard/analytics/cohorts.csv").content.decode()
    rows = list(csv.reader(io.StringIO(cohorts)))
    assert rows[-1][1:3] == ["5", "4"]  # this week: 5 registered, 4 active


def test_a_bad_range_is_a_400_saying_why(viewer):
    response = viewer.get("/dashboard/analytics/", {"range": "custom", "from": "x"})
    assert response.status_code == 400
    assert "custom range: from and to are dates" in response.content.decode()
    assert viewer.get("/dashboard/analytics/nope.csv").status_code == 404


def test_the_24_hour_range_reads_hours(viewer, history):
    rebuild_days(history.today, history.today)
    rows = list(
        csv.reader(
            io.StringIO(
                viewer.get("/dashboard/analytics/members.csv", {"range": "24h"}).content.decode()
            )
        )
    )
    assert len(rows) == 1 + 24
    assert sum(int(row[1]) for row in rows[1:]) == 5


def test_home_shows_7_day_sparklines_with_deltas(viewer, history):
    rebuild_days(history.today, history.today)
    body = viewer.get("/dashboard/").content.decode()
    assert 'data-trend="registered"' in body
    assert "<strong>5</strong>" in body  # 5 registered in the last 7 days
    assert "(before: 0)" in body  # nothing the week before: no percentage
    assert '<polyline points="0.0,23.0' in body


def test_home_has_no_sparklines_without_the_analytics_permission(client, db):
    from django.contrib.auth.models import Permission

    user = UserFactory(username="dashboard-only")
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(user)
    body = client.get("/dashboard/").content.decode()
    assert 'data-trend="registered"' not in body

"""The dashboard's JSON endpoint and what it adds to the page: hourly charts from the
counters, per-hour wait percentiles, and times in the site's zone."""

from datetime import UTC, datetime, timedelta

import pytest

from qcproject.db import db_now
from tasks import counters, rollups, selectors
from tasks.models import Task, WaitHour
from tasks.services import task_complete, task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db
URL = "/admin/tasks/task/dashboard/data/"


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


def test_data_endpoint_is_for_supervisors_only(client, alice, django_user_model):
    assert client.get(URL).status_code == 302  # to the admin's sign-in
    client.force_login(alice.user)
    assert client.get(URL).status_code == 302
    staff = django_user_model.objects.create_user(username="staff", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403


def test_data_endpoint_carries_every_figure_of_the_page(admin_client, alice, bob):
    a, b, c = task_create(descriptions=["weld A", "weld B", "weld C"])
    person_login(person_id=alice.pk)
    task_complete(task_id=a.pk, person_id=alice.pk)
    r = admin_client.get(URL, {"window": "today"})
    assert r.status_code == 200 and r["Cache-Control"].startswith("max-age=0")
    d = r.json()
    assert d["window"] == "today"
    assert d["queue"] == {
        "pending": 1,
        "inProgress": 1,
        "oldestPendingAge": d["queue"]["oldestPendingAge"],
    }
    assert (d["people"]["working"], d["people"]["idle"], d["people"]["signedOut"]) == (1, 0, 1)
    (row,) = d["people"]["rows"]
    assert (row["name"], row["taskId"], row["taskDescription"]) == ("Alice", b.pk, "weld B")
    assert row["completedToday"] == 1
    assert (d["flow"]["created"], d["flow"]["completed"]) == (3, 1)
    assert {r["reason"] for r in d["flow"]["released"]} >= {"LOGOUT", "STALE"}
    charts = d["charts"]
    assert len(charts["hours"]) == selectors.CHART_HOURS + 1
    assert charts["created"][-1] == 3 and charts["completed"][-1] == 1
    assert charts["waitP50"][-1] is not None


def test_unknown_window_falls_back_to_the_hour(admin_client):
    assert admin_client.get(URL, {"window": "year"}).json()["window"] == "hour"


def test_hourly_series_reads_the_hours_from_the_counters(alice):
    task_create(descriptions=["a", "b"])
    now = db_now()
    two_hours_ago = rollups.hour_floor(now) - timedelta(hours=2)
    Task.objects.update(created_at=two_hours_ago + timedelta(minutes=5))
    counters.rebuild_hours()
    series = selectors.hourly_series(now=now)
    assert series.hours[-3] == two_hours_ago
    assert series.created[-3] == 2 and sum(series.created) == 2


def test_closed_hours_get_their_wait_percentiles_once(make_person):
    people = [make_person() for _ in range(4)]
    tasks = task_create(descriptions=["a", "b", "c", "d"])
    for person in people:
        person_login(person_id=person.pk)
    hour = rollups.hour_floor(db_now()) - timedelta(hours=3)
    for n, task in enumerate(tasks):  # waits of 10, 20, 30, 40 s, assigned in that hour
        Task.objects.filter(pk=task.pk).update(
            first_assigned_at=hour + timedelta(minutes=30),
            created_at=hour + timedelta(minutes=30, seconds=-10 * (n + 1)),
        )
    assert rollups.wait_hours_rollup() == rollups.KEEP_HOURS
    assert rollups.wait_hours_rollup() == 0  # each hour once
    w = WaitHour.objects.get(hour=hour)
    assert (w.tasks, w.p50, w.p90) == (4, pytest.approx(25), pytest.approx(37))
    series = selectors.hourly_series(now=db_now())
    index = series.hours.index(hour)
    assert series.wait_p50[index] == pytest.approx(25)
    assert series.wait_p50[index - 1] is None  # nothing assigned in that hour


def test_a_dashboard_read_computes_a_bounded_number_of_missing_hours():
    now = db_now()
    selectors.hourly_series(now=now)
    assert WaitHour.objects.count() == selectors.ROLLUP_ON_READ
    selectors.hourly_series(now=now)
    assert WaitHour.objects.count() == 2 * selectors.ROLLUP_ON_READ


def test_today_starts_at_midnight_in_the_sites_zone(settings, alice):
    settings.TIME_ZONE = "America/New_York"
    now = datetime(2026, 7, 2, 3, 0, tzinfo=UTC)  # 23:00 on July 1st in New York
    assert selectors.window_start("today", now=now) == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    settings.TIME_ZONE = "Asia/Tokyo"
    assert selectors.window_start("today", now=now) == datetime(2026, 7, 1, 15, 0, tzinfo=UTC)


def test_completed_today_counts_from_midnight_in_the_sites_zone(settings, alice):
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14: its day began hours before UTC's
    (a, b) = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    task_complete(task_id=a.pk, person_id=alice.pk)
    from tasks.models import Assignment

    local_midnight = selectors.start_of_today(db_now())
    Assignment.objects.filter(task=a).update(completed_at=local_midnight - timedelta(minutes=1))
    (row,) = selectors.people_stats(now=db_now()).rows
    assert row.completed_today == 0
    Assignment.objects.filter(task=a).update(completed_at=local_midnight + timedelta(minutes=1))
    (row,) = selectors.people_stats(now=db_now()).rows
    assert row.completed_today == 1


def test_the_page_shows_its_zone(admin_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    html = admin_client.get("/admin/tasks/task/dashboard/").content.decode()
    assert "(Europe/Berlin)" in html
    assert "uplot/uPlot.iife.min.js" in html and "<script>" not in html.replace(
        '<script type="application/json"', ""
    )

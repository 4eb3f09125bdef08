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


# --- reviews (docs/engine.md, "Outcomes") ---


@pytest.fixture
def reviews(alice, bob, make_person):
    """Alice and Bob both pass T1, disagree on T2 (Bob fails it with a scratch: disputed);
    Carol fails T3 with a scratch and a dent, and completes T4 without a verdict."""
    from tasks.models import DefectCode
    from tasks.services import NewTask

    carol = make_person("Carol")
    DefectCode.objects.create(code="SCRATCH", description="A scratch")
    DefectCode.objects.create(code="DENT", description="A dent")

    def task(required=1):
        (t,) = task_create(tasks=[NewTask(description="t", reviews_required=required)])
        return t

    def review(person, t, outcome="", defects=()):
        assert person_login(person_id=person.pk).current_task.pk == t.pk
        task_complete(task_id=t.pk, person_id=person.pk, outcome=outcome, defects=list(defects))

    t1 = task(2)
    review(alice, t1, "pass")
    review(bob, t1, "pass")
    t2 = task(2)
    review(alice, t2, "pass")
    review(bob, t2, "fail", ["SCRATCH"])
    t3 = task()
    review(carol, t3, "fail", ["SCRATCH", "DENT"])
    t4 = task()
    review(carol, t4)
    return {"alice": alice, "bob": bob, "carol": carol, "tasks": [t1, t2, t3, t4]}


def test_outcome_figures_of_a_known_set_of_reviews(reviews):
    o = selectors.outcome_stats(since=db_now() - timedelta(hours=1))
    assert (o.passed, o.failed, o.fail_rate) == (3, 2, pytest.approx(0.4))
    assert [(d.code, d.description, d.n) for d in o.top_defects] == [
        ("SCRATCH", "A scratch", 2),
        ("DENT", "A dent", 1),
    ]
    assert o.disputes_waiting == 1
    got = {
        r.name: (r.reviews, r.verdicts, r.fails, r.fail_rate, r.compared, r.agreed, r.agreement)
        for r in o.reviewers
    }
    assert got == {
        "Alice": (2, 2, 0, 0.0, 2, 1, 0.5),
        "Bob": (2, 2, 1, 0.5, 2, 1, 0.5),
        "Carol": (2, 1, 1, 1.0, 0, 0, None),
    }
    assert [r.name for r in o.reviewers] == ["Alice", "Bob", "Carol"]


def test_a_window_counts_its_partial_first_hour_from_the_history(reviews):
    from tasks.models import Assignment

    hour = rollups.hour_floor(db_now())
    t1, t2, t3, t4 = reviews["tasks"]
    # Carol's fail of T3 happened in the previous hour; Alice's pass of T1 two hours ago.
    Assignment.objects.filter(task=t3).update(completed_at=hour - timedelta(minutes=10))
    Assignment.objects.filter(task=t1, person=reviews["alice"]).update(
        completed_at=hour - timedelta(hours=2), assigned_at=hour - timedelta(hours=2, minutes=1)
    )
    counters.rebuild_hours()
    o = selectors.outcome_stats(since=hour - timedelta(minutes=30))
    assert (o.passed, o.failed) == (2, 2)
    assert {d.code: d.n for d in o.top_defects} == {"SCRATCH": 2, "DENT": 1}
    o = selectors.outcome_stats(since=hour)
    assert (o.passed, o.failed) == (2, 1)
    assert {d.code: d.n for d in o.top_defects} == {"SCRATCH": 1}
    rows = {r.name: r for r in o.reviewers}
    assert (rows["Carol"].reviews, rows["Carol"].fails) == (1, 0)
    # Bob's review of T1 is compared with Alice's, though hers is outside the window.
    assert (rows["Bob"].compared, rows["Bob"].agreed) == (2, 1)
    assert (rows["Alice"].reviews, rows["Alice"].compared, rows["Alice"].agreed) == (1, 1, 0)


def test_agreement_takes_a_query_a_figure_whatever_the_people(reviews, django_assert_num_queries):
    since = db_now() - timedelta(hours=1)
    with django_assert_num_queries(2):
        selectors.reviewer_stats(since=since)


def test_top_defects_are_the_five_most_logged(make_person):
    from tasks.models import DefectCode

    for n, code in enumerate(["A", "B", "C", "D", "E", "F", "GONE"]):
        if code != "GONE":
            DefectCode.objects.create(code=code, description=code.lower())
        counters.count(counters.defects(code), n + 1)
    o = selectors.outcome_stats(since=db_now() - timedelta(hours=1))
    assert [(d.code, d.n) for d in o.top_defects] == [
        ("GONE", 7),
        ("F", 6),
        ("E", 5),
        ("D", 4),
        ("C", 3),
    ]
    assert o.top_defects[0].description == ""  # no longer in the catalogue


def test_data_endpoint_and_page_carry_the_outcome_figures(admin_client, reviews):
    d = admin_client.get(URL, {"window": "hour"}).json()["outcomes"]
    assert (d["pass"], d["fail"], d["failRate"], d["disputesWaiting"]) == (3, 2, 0.4, 1)
    assert d["topDefects"][0] == {"code": "SCRATCH", "description": "A scratch", "n": 2}
    (alice,) = [r for r in d["reviewers"] if r["name"] == "Alice"]
    assert alice == {
        "id": reviews["alice"].pk,
        "name": "Alice",
        "reviews": 2,
        "verdicts": 2,
        "fails": 0,
        "failRate": 0.0,
        "compared": 2,
        "agreed": 1,
        "agreement": 0.5,
    }
    html = admin_client.get("/admin/tasks/task/dashboard/").content.decode()
    assert 'id="qc-reviews-pass">3<' in html and 'id="qc-fail-rate">40%<' in html
    assert 'href="/admin/tasks/task/?status__exact=DISPUTED"' in html
    assert 'id="qc-disputes">1<' in html
    assert '<th scope="row">SCRATCH</th><td>A scratch</td><td>2</td>' in html
    assert "50% of 2" in html


def test_the_dashboard_without_reviews_says_so(admin_client):
    html = admin_client.get("/admin/tasks/task/dashboard/").content.decode()
    assert "No defect logged." in html and "No review in the window." in html
    d = admin_client.get(URL).json()["outcomes"]
    assert (d["pass"], d["fail"], d["failRate"], d["reviewers"]) == (0, 0, None, [])

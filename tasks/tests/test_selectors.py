"""The dashboard's figures against hand-computed fixtures."""

from datetime import timedelta

import pytest
from django.db.models.functions import Now

from personnel.models import Person
from qcproject.db import db_now
from tasks import counters, selectors
from tasks.assigner import assigner_report
from tasks.models import AssignerInstance, Assignment, EndReason, Task
from tasks.selectors import percentile
from tasks.services import task_complete, task_create
from tasks.sessions import person_login, person_logout

pytestmark = pytest.mark.django_db


def test_percentile_interpolates_between_ranks():
    assert percentile([], 50) is None
    assert percentile([7], 90) == 7
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90) == pytest.approx(91)
    assert percentile([3, 1, 2], 0) == 1 and percentile([3, 1, 2], 100) == 3


def test_queue_counts_and_oldest_pending_age(make_person):
    a, b, c = task_create(descriptions=["a", "b", "c"])
    Task.objects.filter(pk=a.pk).update(created_at=Now() - timedelta(seconds=300))
    person_login(person_id=make_person().pk)  # takes a (oldest)
    Task.objects.filter(pk=b.pk).update(created_at=Now() - timedelta(seconds=120))
    stats = selectors.queue_stats(now=db_now())
    assert (stats.pending, stats.in_progress) == (2, 1)
    assert 119 <= stats.oldest_pending_age.total_seconds() <= 125


def test_queue_with_nothing_pending_has_no_age():
    assert selectors.queue_stats(now=db_now()).oldest_pending_age is None


def test_people_states_and_rows(make_person):
    working, idle, out = make_person("Working"), make_person("Idle"), make_person("Out")
    (t1, t2) = task_create(descriptions=["one", "two"])
    person_login(person_id=working.pk)  # t1
    task_complete(task_id=t1.pk, person_id=working.pk)  # t2, one completed today
    person_login(person_id=idle.pk)  # nothing left
    Assignment.objects.filter(open_person=working.pk).update(
        assigned_at=Now() - timedelta(seconds=90)
    )
    Person.objects.filter(pk=idle.pk).update(last_heartbeat=Now() - timedelta(seconds=30))
    stats = selectors.people_stats(now=db_now())
    assert (stats.working, stats.idle, stats.signed_out) == (1, 1, 1)
    rows = {r.name: r for r in stats.rows}
    assert set(rows) == {"Working", "Idle"}  # signed-out people are not listed
    assert rows["Working"].task_id == t2.pk and rows["Working"].task_description == "two"
    assert 89 <= rows["Working"].time_on_task.total_seconds() <= 95
    assert rows["Working"].completed_today == 1
    assert rows["Idle"].task_id is None and rows["Idle"].time_on_task is None
    assert 29 <= rows["Idle"].since_heartbeat.total_seconds() <= 35
    assert rows["Idle"].completed_today == 0
    assert out.pk not in {r.id for r in stats.rows}


def test_flow_over_a_window_with_hand_computed_percentiles(make_person):
    alice, bob = make_person("Alice"), make_person("Bob")
    tasks = task_create(descriptions=[f"t{i}" for i in range(5)])
    # Waits (created → first assigned) of 10, 20, 30, 40 s for t0..t3; t4 never assigned.
    for i, task in enumerate(tasks[:4]):
        Task.objects.filter(pk=task.pk).update(created_at=Now() - timedelta(seconds=10 * (i + 1)))
    person_login(person_id=alice.pk)  # t3 (oldest), wait 40
    person_login(person_id=bob.pk)  # t2, wait 30
    # Alice completes t3 after 60 s of work, then gets t1; Bob is signed out (t2 released).
    Assignment.objects.filter(open_person=alice.pk).update(
        assigned_at=Now() - timedelta(seconds=60)
    )
    task_complete(task_id=tasks[3].pk, person_id=alice.pk)
    person_logout(person_id=bob.pk)
    # An old, out-of-window completion must not count.
    old = Task.objects.create(description="old")
    Task.objects.filter(pk=old.pk).update(created_at=Now() - timedelta(days=3))
    # The hourly counts as if all that had happened at the times now written (they were
    # counted when it ran: near an hour's start, seconds earlier is another hour).
    counters.rebuild_hours()
    now = db_now()

    flow = selectors.flow_stats(since=now - timedelta(hours=1))

    assert flow.created == 5  # t0..t4; "old" is three days old
    assert flow.assigned == 3  # alice t3, bob t2, alice t1
    assert flow.completed == 1
    assert flow.released[EndReason.LOGOUT] == 1
    assert flow.released[EndReason.STALE] == 0
    waits = sorted([40, 30, 20])  # t3, t2, t1 (t1 first assigned on alice's complete)
    assert flow.wait_sample == 3
    assert flow.wait_median == pytest.approx(percentile(waits, 50), abs=2)
    assert flow.wait_p90 == pytest.approx(38, abs=2)  # 30 + 0.8 × (40 − 30)
    assert flow.handle_sample == 1
    assert flow.handle_median == pytest.approx(60, abs=2)


def test_window_starts():
    now = db_now()
    assert selectors.window_start("hour", now=now) == now - timedelta(hours=1)
    assert selectors.window_start("week", now=now) == now - timedelta(days=7)
    today = selectors.window_start("today", now=now)
    assert today.date() == now.date() and (today.hour, today.minute, today.second) == (0, 0, 0)


def test_assigners_report_their_cycles():
    from tasks.assigner import assigner_claim

    assigner_claim(name="host:1")
    assigner_report(name="host:1", seconds=0.25, assigned=3, released=0)
    assigner_report(name="host:1", seconds=0.5, assigned=0, released=2)
    instance = AssignerInstance.objects.get()
    assert (instance.cycles, instance.assigned_total, instance.released_total) == (2, 3, 2)
    assert instance.last_cycle_seconds == 0.5
    (row,) = selectors.assigner_stats(now=db_now())
    assert row.name == "host:1" and row.since_last_cycle.total_seconds() < 5


def test_dashboard_bundles_everything(make_person):
    task_create(descriptions=["a"])
    d = selectors.dashboard_get(window="today")
    assert d.window == "today" and d.queue.pending == 1 and d.people.signed_out == 0

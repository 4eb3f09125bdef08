"""Running totals and hourly counts (tasks/counters.py), and the dashboard's flow that adds
up hours instead of counting history (selectors.flow_stats)."""

from datetime import timedelta

import pytest
from django.db.models import F

from qcproject.db import db_now
from tasks import counters, selectors
from tasks.models import Assignment, Counter, EndReason, Task
from tasks.services import task_complete, task_create
from tasks.sessions import person_login, person_logout
from tasks.tests.invariants import assert_counters_match

pytestmark = pytest.mark.django_db


def test_count_goes_to_the_total_and_to_this_hour():
    for n in (1, 2, 3, 4, 5):
        counters.count("probe", n)

    assert counters.totals()["probe"] == 15
    this_hour = db_now().replace(minute=0, second=0, microsecond=0)
    assert counters.since(this_hour) == {"probe": 15}
    assert counters.since(this_hour + timedelta(hours=1)) == {}


def test_the_services_count_by_the_hour_what_they_count_in_total(alice, bob):
    a, b, c = task_create(descriptions=["a", "b", "c"])
    person_login(person_id=alice.pk)
    person_login(person_id=bob.pk)
    task_complete(task_id=a.pk, person_id=alice.pk)
    person_logout(person_id=bob.pk)

    totals = counters.totals()
    assert totals[counters.CREATED] == 3
    assert totals[counters.assignments("LOGIN")] == 2
    assert totals[counters.COMPLETIONS] == 1
    assert totals[counters.releases(EndReason.LOGOUT)] == 1
    assert_counters_match()  # the hours add up to the totals


def _history(days_ago: float, *, person, n: int = 1) -> None:
    """`n` tasks created, assigned and completed `days_ago` days ago: rows with old
    timestamps, as the services would have written them then (not counted: see
    `counters.rebuild_hours`)."""
    tasks = task_create(descriptions=[f"old {i}" for i in range(n)])
    then = db_now() - timedelta(days=days_ago)
    done = then + timedelta(minutes=5)
    ids = [t.pk for t in tasks]
    Task.objects.filter(pk__in=ids).update(
        created_at=then,
        first_assigned_at=then,
        status="COMPLETED",
        reviews_done=1,
        assigned_to=person,
    )
    Assignment.objects.bulk_create(
        [
            Assignment(
                task_id=i,
                person=person,
                source="ASSIGNER",
                assigned_at=then,
                completed_at=done,
                ended_at=done,
                end_reason=EndReason.COMPLETED,
            )
            for i in ids
        ]
    )


@pytest.mark.parametrize("window", ["hour", "today", "week"])
def test_flow_adds_up_hours_as_the_history_counts(alice, window):
    # Some in each window's first, partial hour (59 minutes ago, a week less 20 s ago),
    # which is counted from the history, and some in its whole hours, counted by the hour.
    for days_ago in (59 / 1440, 0.01, 0.3, 0.9, 2.5, 6.9, 7 - 20 / 86400, 7.5, 30):
        _history(days_ago, person=alice, n=3)
    counters.rebuild_hours()  # the hours of that history, counted as the services would
    (live,) = task_create(descriptions=["just now"])
    person_login(person_id=alice.pk)  # counted now

    now = db_now()
    since = selectors.window_start(window, now=now)
    flow = selectors.flow_stats(since=since)
    history = selectors.flow_counts_from_history(start=since)

    assert (flow.created, flow.assigned, flow.completed) == (
        history[counters.CREATED],
        history["assigned"],
        history[counters.COMPLETIONS],
    )
    assert {r: n for r, n in flow.released.items() if n} == history["released"]
    assert flow.created >= 1 and flow.assigned >= 1


def test_rebuilt_hours_are_what_was_counted(alice, bob):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    task_complete(task_id=a.pk, person_id=alice.pk)
    person_login(person_id=bob.pk)
    counted = counters.since(Counter.ALL_TIME + timedelta(hours=1))

    counters.rebuild_hours()

    assert counters.since(Counter.ALL_TIME + timedelta(hours=1)) == counted
    assert_counters_match()


def test_a_window_reads_hours_not_history(alice, django_assert_max_num_queries):
    _history(3, person=alice, n=50)
    counters.rebuild_hours()
    Counter.objects.filter(hour__gt=Counter.ALL_TIME).update(value=F("value"))

    with django_assert_max_num_queries(12):
        flow = selectors.flow_stats(since=db_now() - timedelta(days=7))

    assert flow.completed == 50


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_first_counts_on_one_shard_at_once_are_each_counted_once(monkeypatch):
    """Transactions counting a name for the first time on the same shard at once: each
    count lands once, whichever created the rows (a row another transaction created just
    after one's UPDATE looked for it must not pass for one that UPDATE added to)."""
    from django.db import transaction

    from qcproject.db import retry_transaction
    from tasks.tests.test_concurrency import run_at_once

    monkeypatch.setattr(counters.random, "randrange", lambda n: 0)

    @retry_transaction  # as the services are: two first counts may deadlock, and retry
    def count():
        with transaction.atomic():
            counters.count_many({"race": 1, "race:other": 2})

    for _ in range(5):
        outcomes = run_at_once(*([count] * 8))
        assert outcomes == [None] * 8, outcomes
        assert counters.totals() == {"race": 8, "race:other": 16}
        Counter.objects.all().delete()  # the next round counts first again
        assert counters.totals() == {}

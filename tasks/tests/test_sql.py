"""The hand-written hot statements (`tasks.sql`) against what the ORM gives for the same
rows: the same instances, the same clock, the same locks."""

import threading
from datetime import UTC, timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.models.functions import Now
from django.db.utils import OperationalError
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from personnel.models import Person
from qcproject.db import db_now
from tasks import engine, sql
from tasks.models import Assignment, Counter, Task, TaskStatus
from tasks.testing import age_heartbeat, make_tasks

pytestmark = pytest.mark.django_db


def _lock(person_id):
    """One person's row, locked (`people_lock` of one id), or None."""
    return sql.people_lock([person_id]).get(person_id)


def _next_rows(n: int, exclude=()) -> list:
    """The pick (its statements: `tasks_heads`, then `tasks_lock_pending`) for `n` people
    without skills or exclusions: the oldest pending tasks (other than `exclude`),
    locked, in queue order."""
    takers = [engine.Taker(-i, frozenset()) for i in range(1, n + 1)]
    given = engine.tasks_pick(takers, now=db_now(), exclude=exclude)
    return [given[t.id] for t in takers if t.id in given]


def _next(exclude=()):
    """The oldest pending task (other than `exclude`), locked, or None."""
    rows = _next_rows(1, exclude)
    return sql.task_from_row(rows[0]) if rows else None


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _sign_in(person, *, new_session=True, busy=False):
    """sql.person_sign_in as the sign-in service calls it: on the row it locked, at the
    database's clock read by the lock. Returns the instance it updated."""
    with transaction.atomic():
        locked = _lock(person.pk)
        sql.person_sign_in(locked, now=locked.db_now, new_session=new_session, busy=busy)
    return locked


def _signed_in(person, *, busy_with=None):
    _sign_in(person)
    if busy_with is not None:
        _assign([(person.pk, busy_with.pk)], source="LOGIN")
    return Person.objects.get(pk=person.pk)


def _assign(pairs, *, source):
    sql.people_busy([person_id for person_id, _ in pairs])
    sql.tasks_hand_over(pairs, source=source)


# --- person_with_task, person_lock, person_heartbeat ---


def test_person_with_task_equals_the_orm_rows(alice, bob):
    (task,) = make_tasks("check the welds")
    _signed_in(alice, busy_with=task)

    busy = sql.person_with_task(alice.pk)
    free = sql.person_with_task(bob.pk)

    assert _fields(busy) == _fields(Person.objects.get(pk=alice.pk))
    assert _fields(busy.current_task) == _fields(Task.objects.get(pk=task.pk))
    assert busy.current_task.assigned_to is busy
    assert _fields(free) == _fields(Person.objects.get(pk=bob.pk))
    assert free.current_task is None
    assert sql.person_with_task(987_654_321) is None


def test_rows_come_back_with_the_orm_types(alice):
    person = sql.person_with_task(_signed_in(alice).pk)

    assert person.is_logged_in is True and person.is_busy is False
    assert person.last_heartbeat.tzinfo is not None
    assert person.last_heartbeat.utcoffset() == UTC.utcoffset(None)


def test_person_lock_tells_live_from_stale_and_signed_out(alice, bob, make_person):
    carol = make_person("Carol")
    _signed_in(alice)
    _signed_in(bob)
    age_heartbeat(bob, 3600)

    with transaction.atomic():
        assert _lock(alice.pk).is_live is True
        assert _lock(bob.pk).is_live is False
        assert _lock(carol.pk).is_live is False  # never signed in: NULL heartbeat
        assert _lock(987_654_321) is None
        # The same verdicts as the ORM's annotation.
        orm = dict(Person.objects.with_liveness().values_list("id", "is_live"))
        assert {pk: bool(live) for pk, live in orm.items()} == {
            alice.pk: True,
            bob.pk: False,
            carol.pk: False,
        }


def test_heartbeat_refreshes_a_live_session_only(alice, bob, make_person):
    carol = make_person("Carol")
    _signed_in(alice)
    _signed_in(bob)
    age_heartbeat(alice, 30)
    age_heartbeat(bob, 3600)
    before = Person.objects.get(pk=alice.pk).last_heartbeat

    assert sql.person_heartbeat(alice.pk) is True
    assert sql.person_heartbeat(bob.pk) is False
    assert sql.person_heartbeat(carol.pk) is False
    assert sql.person_heartbeat(alice.pk, timeout=10) is True  # just refreshed
    assert Person.objects.get(pk=alice.pk).last_heartbeat > before
    assert list(Person.objects.live().values_list("id", flat=True)) == [alice.pk]


# --- the assignment writes ---


def test_next_pending_is_the_oldest_not_excluded(alice):
    oldest, middle, newest = make_tasks("a", "b", "c")
    Task.objects.filter(pk=middle.pk).update(status=TaskStatus.CANCELLED)

    with transaction.atomic():
        assert _next().pk == oldest.pk
        assert _next(exclude=(oldest.pk,)).pk == newest.pk
        assert _next(exclude=(oldest.pk, newest.pk)) is None


@pytest.mark.parametrize("busy", [False, True])
def test_sign_in_starts_a_session_or_keeps_it_going(alice, busy):
    age_heartbeat(alice, 0)
    Person.objects.filter(pk=alice.pk).update(signed_out_reason="LOGOUT")

    updated = _sign_in(alice, busy=busy)
    started = Person.objects.get(pk=alice.pk)
    assert _fields(updated) == _fields(started)  # the instance is the row as stored
    assert started.is_logged_in and started.is_busy == busy and started.signed_out_reason == ""
    assert started.logged_in_at == started.last_heartbeat
    assert started.idle_since == (None if busy else started.last_heartbeat)

    age_heartbeat(alice, 60)
    aged = Person.objects.get(pk=alice.pk).last_heartbeat
    updated = _sign_in(alice, new_session=False, busy=True)
    going_on = Person.objects.get(pk=alice.pk)
    assert _fields(updated) == _fields(going_on)
    assert going_on.logged_in_at == started.logged_in_at  # the same session
    # Refreshed; on SQLite's millisecond clock it may equal the sign-in a moment before.
    assert going_on.last_heartbeat > aged
    assert going_on.last_heartbeat >= started.logged_in_at
    assert going_on.is_busy and going_on.idle_since is None


def test_sign_in_again_without_a_task_changes_only_the_heartbeat(alice):
    _sign_in(alice)
    age_heartbeat(alice, 60)
    before = Person.objects.get(pk=alice.pk)

    _sign_in(alice, new_session=False)

    after = Person.objects.get(pk=alice.pk)
    assert after.last_heartbeat > before.last_heartbeat
    assert {**_fields(after), "last_heartbeat": None} == {**_fields(before), "last_heartbeat": None}


def test_people_lock_returns_the_people_found_in_id_order(alice, bob):
    with transaction.atomic():
        locked = sql.people_lock([bob.pk, 987_654_321, alice.pk, bob.pk])
    assert list(locked) == sorted([alice.pk, bob.pk])
    assert all(p.db_now is not None for p in locked.values())
    assert sql.people_lock([]) == {}


def test_next_pending_takes_up_to_the_limit_in_queue_order(alice):
    oldest, middle, newest = make_tasks("a", "b", "c")

    with transaction.atomic():
        rows = _next_rows(2)
        assert [row[0] for row in rows] == [oldest.pk, middle.pk]
        rows = _next_rows(5, exclude=(middle.pk,))
        assert [row[0] for row in rows] == [oldest.pk, newest.pk]


def test_assign_pairs_writes_people_assignments_and_tasks(alice, bob):
    first, second = make_tasks("a", "b")
    _signed_in(alice)
    _signed_in(bob)

    with transaction.atomic():
        _assign([(alice.pk, first.pk), (bob.pk, second.pk)], source="ASSIGNER")

    for person, task in ((alice, first), (bob, second)):
        person = Person.objects.get(pk=person.pk)
        task = Task.objects.get(pk=task.pk)
        assert person.is_busy and person.idle_since is None
        assert task.status == TaskStatus.IN_PROGRESS and task.assigned_to_id == person.pk
        assert task.first_assigned_at is not None
        opened = Assignment.objects.get(open_task=task.pk)
        assert (opened.person_id, opened.source, opened.end_reason) == (person.pk, "ASSIGNER", "")


def test_counter_rows_for_the_total_and_the_hour():
    assert sql.counter_add({"probe": 5}, 3) == 0  # neither row exists yet
    sql.counter_insert_or_add("probe", 3, 5, this_hour=False)
    assert sql.counter_add({"probe": 1}, 3) == 1  # the total's row only
    sql.counter_insert_or_add("probe", 3, 1, this_hour=True)
    sql.counter_insert_or_add("probe", 3, 2, this_hour=True)  # exists now: added to
    assert sql.counter_add({"probe": 10}, 3) == 2

    rows = {
        c.hour == Counter.ALL_TIME: c.value for c in Counter.objects.filter(name="probe", shard=3)
    }
    assert rows == {True: 16, False: 13}
    (hour,) = Counter.objects.exclude(hour=Counter.ALL_TIME).values_list("hour", flat=True)
    assert (hour.minute, hour.second, hour.microsecond) == (0, 0, 0)
    assert db_now() - hour < timedelta(hours=1)


def test_counts_of_several_names_in_one_statement_create_what_is_missing():
    from tasks import counters

    counters.count("a")  # both of a's rows exist; none of b's
    sql.counter_insert_or_add("c", 0, 0, this_hour=False)  # c's total only, on one shard
    for _ in range(3):
        counters.count_many({"a": 2, "b": 3, "c": 1, "none": 0})
    assert counters.totals() == {"a": 7, "b": 9, "c": 3}
    hours = counters.since(Counter.objects.exclude(hour=Counter.ALL_TIME).first().hour)
    assert hours == {"a": 7, "b": 9, "c": 3}


# --- locks: a second connection, in a thread ---


def _from_other_connection(fn):
    """Run fn on another connection (a thread) with a lock wait of 1 s; its result or error."""
    outcome = {}

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
            with transaction.atomic():
                outcome["value"] = fn()
        except OperationalError as exc:
            outcome["error"] = exc.args[0]
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return outcome


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_person_lock_holds_the_row_and_next_pending_skips_a_locked_task(make_person):
    alice = make_person("Alice")
    first, second = make_tasks("a", "b")
    with transaction.atomic():
        _lock(alice.pk)
        assert _next().pk == first.pk

        # Another transaction waits for the person (and times out) ...
        assert _from_other_connection(lambda: _lock(alice.pk)) == {"error": 1205}
        # ... and passes over the locked task to the next one.
        taken = _from_other_connection(lambda: _next().pk)
        assert taken == {"value": second.pk}


@pytest.mark.django_db(transaction=True)
def test_statements_keep_working_across_a_new_connection(make_person):
    """The module keeps a cursor per connection: a new connection gets a new one."""
    alice = make_person("Alice")
    assert sql.person_with_task(alice.pk).pk == alice.pk
    connection.close()
    assert sql.person_with_task(alice.pk).pk == alice.pk


# --- one person's pick under contention ---


def _pick_of_one():
    """One person's pick: the task it locked, and its statements."""
    now = db_now()
    with CaptureQueriesContext(connection) as queries:
        given = engine.tasks_pick([engine.Taker(-1, frozenset())], now=now)
    return given[-1][0] if given else None, len(queries)


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_one_persons_pick_passes_over_a_task_being_taken_without_reading_again():
    """People completing at once all want the queue's first task: one person's pick walks
    the best range under the lock (SKIP LOCKED), so the task another transaction is taking
    costs no second read."""
    first, second, _ = make_tasks("a", "b", "c")
    with transaction.atomic():
        assert _next().pk == first.pk  # this transaction is taking the first task
        # The read of the ranges' first tasks, then the lock of the second: two statements.
        assert _from_other_connection(_pick_of_one) == {"value": (second.pk, 2)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@override_settings(QC_PRIORITY_AGING=600)
def test_one_persons_pick_takes_another_ranges_task_when_the_next_ranks_lower():
    """The best range's first task is being taken, and its next ranks below another range's
    first: that one is given, and the next stays in the queue."""
    aged, younger, other = make_tasks("aged", "younger", "other")
    Task.objects.filter(pk=aged.pk).update(priority=5, created_at=Now() - timedelta(seconds=1250))
    Task.objects.filter(pk=younger.pk).update(priority=5)  # 5
    Task.objects.filter(pk=other.pk).update(priority=6)  # 6, above the younger one's 5
    with transaction.atomic():
        assert _next().pk == aged.pk  # 5 + 2 levels of age: the best, being taken here
        assert _from_other_connection(lambda: _next().pk) == {"value": other.pk}
    assert Task.objects.get(pk=younger.pk).status == TaskStatus.PENDING

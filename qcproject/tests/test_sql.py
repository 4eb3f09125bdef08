"""The hand-written hot statements (`qcproject.sql`) against what the ORM gives for the same
rows: the same instances, the same clock, the same locks."""

import threading
from datetime import UTC, timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.utils import OperationalError
from rest_framework.authtoken.models import Token

from personnel.models import Person
from qcproject import sql
from qcproject.db import db_now
from qcproject.testing import age_heartbeat, make_tasks
from tasks.models import Assignment, Counter, Task, TaskStatus

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _sign_in(person, *, new_session=True, busy=False):
    """sql.person_sign_in as the sign-in service calls it: on the row it locked, at the
    database's clock read by the lock. Returns the instance it updated."""
    with transaction.atomic():
        locked = sql.person_lock(person.pk)
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


# --- token_with_user ---


def test_token_with_user_reads_token_user_and_person_in_one_query(alice, django_assert_num_queries):
    key = Token.objects.create(user=alice.user).key

    with django_assert_num_queries(1):
        token = sql.token_with_user(key)
        assert token.user.person.pk == alice.pk
        assert token.user.person.user is token.user

    assert _fields(token) == _fields(Token.objects.get(key=key))
    assert _fields(token.user) == _fields(type(alice.user).objects.get(pk=alice.user.pk))
    assert _fields(token.user.person) == _fields(Person.objects.get(pk=alice.pk))


def test_token_of_a_user_without_person_caches_that_there_is_none(
    supervisor, django_assert_num_queries
):
    key = Token.objects.create(user=supervisor).key

    with django_assert_num_queries(1):
        token = sql.token_with_user(key)
        with pytest.raises(Person.DoesNotExist):
            token.user.person  # noqa: B018 (the access is the test)


def test_unknown_token_is_none():
    assert sql.token_with_user("0" * 40) is None


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
        assert sql.person_lock(alice.pk).is_live is True
        assert sql.person_lock(bob.pk).is_live is False
        assert sql.person_lock(carol.pk).is_live is False  # never signed in: NULL heartbeat
        assert sql.person_lock(987_654_321) is None
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


def test_person_lock_by_token_finds_the_tokens_own_active_person(alice, bob):
    key = Token.objects.create(user=alice.user).key

    with transaction.atomic():
        assert sql.person_lock(None, token_key=key).pk == alice.pk
        assert sql.person_lock(alice.pk, token_key=key).pk == alice.pk
        assert sql.person_lock(bob.pk, token_key=key) is None  # someone else's id
        assert sql.person_lock(None, token_key="0" * 40) is None
    type(alice.user).objects.filter(pk=alice.user.pk).update(is_active=False)
    with transaction.atomic():
        assert sql.person_lock(None, token_key=key) is None


# --- the assignment writes ---


def test_next_pending_is_the_oldest_not_excluded(alice):
    oldest, middle, newest = make_tasks("a", "b", "c")
    Task.objects.filter(pk=middle.pk).update(status=TaskStatus.CANCELLED)

    with transaction.atomic():
        assert sql.task_lock_next_pending().pk == oldest.pk
        assert sql.task_lock_next_pending(exclude=(oldest.pk,)).pk == newest.pk
        assert sql.task_lock_next_pending(exclude=(oldest.pk, newest.pk)) is None


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
    assert sql.counter_add("probe", 3, 5) == 0  # neither row exists yet
    sql.counter_insert_or_add("probe", 3, 5, this_hour=False)
    assert sql.counter_add("probe", 3, 1) == 1  # the total's row only
    sql.counter_insert_or_add("probe", 3, 1, this_hour=True)
    sql.counter_insert_or_add("probe", 3, 2, this_hour=True)  # exists now: added to
    assert sql.counter_add("probe", 3, 10) == 2

    rows = {
        c.hour == Counter.ALL_TIME: c.value for c in Counter.objects.filter(name="probe", shard=3)
    }
    assert rows == {True: 16, False: 13}
    (hour,) = Counter.objects.exclude(hour=Counter.ALL_TIME).values_list("hour", flat=True)
    assert (hour.minute, hour.second, hour.microsecond) == (0, 0, 0)
    assert db_now() - hour < timedelta(hours=1)


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
        sql.person_lock(alice.pk)
        assert sql.task_lock_next_pending().pk == first.pk

        # Another transaction waits for the person (and times out) ...
        assert _from_other_connection(lambda: sql.person_lock(alice.pk)) == {"error": 1205}
        # ... and passes over the locked task to the next one.
        taken = _from_other_connection(lambda: sql.task_lock_next_pending().pk)
        assert taken == {"value": second.pk}


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_locking_a_person_by_token_locks_neither_the_token_nor_the_user(make_person):
    from django.contrib.auth import get_user_model

    alice = make_person("Alice")
    key = Token.objects.create(user=alice.user).key
    with transaction.atomic():
        assert sql.person_lock(None, token_key=key).pk == alice.pk

        def lock_user_and_token():
            get_user_model().objects.select_for_update().get(pk=alice.user.pk)
            return Token.objects.select_for_update().get(key=key).user_id

        assert _from_other_connection(lock_user_and_token) == {"value": alice.user.pk}
        assert _from_other_connection(lambda: sql.person_lock(alice.pk)) == {"error": 1205}


@pytest.mark.django_db(transaction=True)
def test_statements_keep_working_across_a_new_connection(make_person):
    """The module keeps a cursor per connection: a new connection gets a new one."""
    alice = make_person("Alice")
    assert sql.person_with_task(alice.pk).pk == alice.pk
    connection.close()
    assert sql.person_with_task(alice.pk).pk == alice.pk

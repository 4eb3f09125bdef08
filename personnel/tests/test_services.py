from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models.functions import Now

from personnel.models import Person
from personnel.selectors import person_get, person_list_with_tasks
from personnel.services import person_create
from qcproject.db import db_now
from qcproject.exceptions import Conflict, NotFound
from tasks.models import Assignment, AssignmentSource, EndReason, Task, TaskStatus
from tasks.sessions import SessionExpired, person_heartbeat, person_login, person_logout
from tasks.testing import age_heartbeat, make_tasks
from tasks.tests.invariants import (
    assert_db_refuses_second_open_assignment,
    assert_db_refuses_second_task_in_progress,
    assert_invariants,
    count_rows,
)

pytestmark = pytest.mark.django_db

UNKNOWN_ID = 987_654_321


# --- person_create ---


def test_create_person_makes_a_signed_out_person_with_a_non_staff_login():
    person = person_create(name="  Ada Lovelace ", username="ada", password="correct-horse-9")

    person.refresh_from_db()
    assert person.name == "Ada Lovelace"
    assert person.user.username == "ada"
    assert person.user.check_password("correct-horse-9")
    assert not person.user.is_staff and not person.user.is_superuser
    assert not person.is_logged_in and not person.is_busy
    assert person.last_heartbeat is None and person.logged_in_at is None
    assert person.idle_since is None


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_create_person_with_blank_name_is_rejected(name):
    with pytest.raises(ValidationError) as excinfo:
        person_create(name=name, username="blank", password="correct-horse-9")

    assert set(excinfo.value.message_dict) == {"name"}
    assert not get_user_model().objects.filter(username="blank").exists()
    assert not Person.objects.exists()


def test_create_person_with_taken_username_is_rejected(make_person):
    make_person(username="taken")

    with pytest.raises(ValidationError) as excinfo:
        person_create(name="Second", username="taken", password="correct-horse-9")

    assert set(excinfo.value.message_dict) == {"username"}
    assert get_user_model().objects.filter(username="taken").count() == 1
    assert Person.objects.count() == 1


def test_create_person_with_too_long_name_is_rejected():
    # Person.name is 255 characters; the API and the admin cut it first, but the service is
    # the contract (seed_demo and shell scripts call it directly): a field error, not a
    # DataError from the database.
    with pytest.raises(ValidationError) as excinfo:
        person_create(name="x" * 256, username="longname", password="correct-horse-9")

    assert set(excinfo.value.message_dict) == {"name"}
    assert not Person.objects.exists()


@pytest.mark.parametrize("username", ["", "with space", "semi;colon", "x" * 151])
def test_create_person_with_invalid_username_is_rejected(username):
    with pytest.raises(ValidationError) as excinfo:
        person_create(name="Someone", username=username, password="correct-horse-9")

    assert set(excinfo.value.message_dict) == {"username"}
    assert not Person.objects.exists()


@pytest.mark.parametrize(
    "password",
    [
        "short1",  # too short
        "password",  # too common
        "84736251937",  # entirely numeric
        "inspector-gadget",  # too similar to the username
    ],
)
def test_create_person_with_weak_password_is_rejected(password):
    with pytest.raises(ValidationError) as excinfo:
        person_create(name="Gadget", username="inspector-gadget", password=password)

    assert set(excinfo.value.message_dict) == {"password"}
    assert excinfo.value.message_dict["password"]
    assert not get_user_model().objects.filter(username="inspector-gadget").exists()
    assert not Person.objects.exists()


# --- person_login ---


def test_login_signs_in_with_heartbeat_from_the_database_clock(make_person):
    person = make_person()
    before = db_now()

    result = person_login(person_id=person.pk)

    after = db_now()
    assert result.pk == person.pk
    assert result.is_logged_in
    assert before <= result.last_heartbeat <= after
    assert before <= result.logged_in_at <= after
    assert before <= result.idle_since <= after  # nothing to do: idle from now on
    assert not result.is_busy
    assert result.current_task is None


def test_login_assigns_the_oldest_pending_task_at_once(make_person):
    person = make_person()
    # Created in this order, but the second is the oldest: the queue orders by created_at.
    newer, oldest, newest = make_tasks("b", "a", "c")
    Task.objects.filter(pk=oldest.pk).update(created_at=Now() - timedelta(hours=1))

    result = person_login(person_id=person.pk)

    assert result.is_busy
    assert result.idle_since is None
    assert result.current_task.pk == oldest.pk
    task = Task.objects.get(pk=oldest.pk)
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.assigned_to_id == person.pk
    assignment = Assignment.objects.get()
    assert (assignment.task_id, assignment.person_id) == (oldest.pk, person.pk)
    assert assignment.source == AssignmentSource.LOGIN
    assert assignment.ended_at is None and assignment.end_reason == ""
    assert assignment.completed_at is None
    assert Task.objects.pending().count() == 2
    assert_invariants(expected_tasks=3)
    assert_db_refuses_second_task_in_progress(person.pk)
    assert_db_refuses_second_open_assignment(oldest.pk)


def test_login_with_empty_queue_leaves_the_person_free(make_person):
    person = make_person()

    result = person_login(person_id=person.pk)

    assert result.is_logged_in and not result.is_busy
    assert result.current_task is None
    assert not Assignment.objects.exists()


def test_login_again_while_signed_in_keeps_the_task_and_adds_no_assignment(make_person):
    person = make_person()
    (task,) = make_tasks("only")
    first = person_login(person_id=person.pk)
    make_tasks("another")
    age_heartbeat(person, 30)  # well within the 90 s timeout
    before = db_now()

    again = person_login(person_id=person.pk)

    assert again.current_task.pk == task.pk
    assert again.is_busy
    assert again.logged_in_at == first.logged_in_at  # the same session
    assert again.last_heartbeat >= before  # a sign-in is a sign of life
    assert Assignment.objects.count() == 1
    assert Assignment.objects.get().ended_at is None
    assert Task.objects.pending().count() == 1
    assert_invariants(expected_tasks=2)


def test_login_again_while_signed_in_and_free_takes_a_task_that_arrived(make_person):
    person = make_person()
    person_login(person_id=person.pk)
    (task,) = make_tasks("arrived later")  # no on_commit offer in a rolled-back test

    result = person_login(person_id=person.pk)

    assert result.current_task.pk == task.pk
    assert Assignment.objects.get().source == AssignmentSource.LOGIN


def test_login_after_expired_unswept_session_releases_old_task_as_stale_and_starts_fresh(
    make_person, short_timeout
):
    person = make_person()
    old_task, other = make_tasks("old", "other")
    first = person_login(person_id=person.pk)
    assert first.current_task.pk == old_task.pk
    Person.objects.filter(pk=person.pk).update(
        last_heartbeat=Now() - timedelta(seconds=10), logged_in_at=Now() - timedelta(seconds=20)
    )
    before = db_now()

    result = person_login(person_id=person.pk)

    stale, fresh = Assignment.objects.order_by("id")
    assert stale.task_id == old_task.pk
    assert stale.end_reason == EndReason.STALE
    assert stale.ended_at is not None and stale.completed_at is None
    # A new session: new sign-in time, and the queue's head (the released task, which kept
    # its place) assigned afresh.
    assert result.is_logged_in and result.is_busy
    assert result.logged_in_at >= before
    assert result.last_heartbeat >= before
    assert fresh.source == AssignmentSource.LOGIN
    assert fresh.ended_at is None
    assert fresh.task_id == old_task.pk == result.current_task.pk
    assert Task.objects.get(pk=old_task.pk).created_at == old_task.created_at
    assert Task.objects.get(pk=other.pk).status == TaskStatus.PENDING
    assert_invariants(expected_tasks=2)


def _exact(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@pytest.mark.parametrize(
    "before",
    [
        "signed out, tasks wait",
        "signed out, none wait",
        "free, a task arrived",
        "free, none wait",
        "busy",
        "expired while busy",
    ],
)
def test_login_answers_exactly_what_is_stored(make_person, before):
    """The sign-in's answer is built from its own writes, not read back: it must be the
    row as stored, field by field, and the task as stored."""
    person = make_person()
    if before != "signed out, none wait":
        make_tasks("first", "second")
    if before.startswith(("free", "busy", "expired")):
        if before.startswith("free"):
            Task.objects.all().update(status=TaskStatus.CANCELLED)  # none to take at sign-in
        person_login(person_id=person.pk)
        if before == "free, a task arrived":
            make_tasks("arrived")
        if before == "expired while busy":
            age_heartbeat(person, 3600)

    answer = person_login(person_id=person.pk)

    stored = person_get(person_id=person.pk)
    assert _exact(answer) == _exact(stored)
    if stored.current_task is None:
        assert answer.current_task is None
    else:
        assert _exact(answer.current_task) == _exact(stored.current_task)
    assert (stored.current_task is not None) == (
        before not in ("signed out, none wait", "free, none wait")
    )


def test_login_unknown_person_raises_not_found():
    with pytest.raises(NotFound):
        person_login(person_id=UNKNOWN_ID)


# --- person_logout ---


def test_logout_releases_the_task_back_to_the_queue_keeping_its_place(make_person):
    person = make_person()
    task, newer = make_tasks("mine", "newer")
    person_login(person_id=person.pk)

    result = person_logout(person_id=person.pk)

    assert result.released == [task.pk]
    released = Task.objects.get(pk=task.pk)
    assert released.status == TaskStatus.PENDING
    assert released.assigned_to_id is None
    assert released.created_at == task.created_at
    assert Task.objects.pending().first().pk == task.pk  # still first in the queue
    assignment = Assignment.objects.get()
    assert assignment.ended_at is not None
    assert assignment.end_reason == EndReason.LOGOUT
    assert assignment.completed_at is None
    assert result.person.pk == person.pk
    assert not result.person.is_logged_in and not result.person.is_busy
    assert result.person.logged_in_at is None and result.person.idle_since is None
    assert result.person.current_task is None
    assert_invariants(expected_tasks=2)


def test_logout_released_task_goes_to_the_next_person_signing_in(make_person):
    first, second = make_person(), make_person()
    task, _ = make_tasks("mine", "newer")
    person_login(person_id=first.pk)
    person_logout(person_id=first.pk)

    result = person_login(person_id=second.pk)

    assert result.current_task.pk == task.pk
    assert_invariants(expected_tasks=2)
    assert_db_refuses_second_open_assignment(task.pk)


def test_logout_without_a_task_signs_out(make_person):
    person = make_person()
    person_login(person_id=person.pk)

    result = person_logout(person_id=person.pk)

    assert result.released == []
    assert not result.person.is_logged_in


def test_logout_when_signed_out_changes_nothing(make_person):
    person = make_person()
    make_tasks("waiting")
    person_login(person_id=person.pk)
    person_logout(person_id=person.pk)
    before = count_rows()

    result = person_logout(person_id=person.pk)

    assert result.released == []
    assert not result.person.is_logged_in
    assert count_rows() == before


def test_logout_unknown_person_raises_not_found():
    with pytest.raises(NotFound):
        person_logout(person_id=UNKNOWN_ID)


# --- person_heartbeat ---


def test_heartbeat_updates_last_heartbeat_on_the_database_clock(make_person):
    person = make_person()
    make_tasks("mine")
    person_login(person_id=person.pk)
    age_heartbeat(person, 30)
    before = db_now()

    result = person_heartbeat(person_id=person.pk)

    assert result.last_heartbeat >= before
    assert result.last_heartbeat <= db_now()
    assert result.is_logged_in and result.is_busy
    assert result.current_task is not None
    assert Assignment.objects.get().ended_at is None


def test_heartbeat_without_a_session_raises_session_expired_no_session(make_person):
    person = make_person()

    with pytest.raises(SessionExpired) as excinfo:
        person_heartbeat(person_id=person.pk)

    assert excinfo.value.code == "no_session"
    assert isinstance(excinfo.value, Conflict)
    assert excinfo.value.status_code == 409
    assert Person.objects.get(pk=person.pk).last_heartbeat is None


def test_heartbeat_after_logout_raises_session_expired_no_session(make_person):
    person = make_person()
    person_login(person_id=person.pk)
    person_logout(person_id=person.pk)

    with pytest.raises(SessionExpired) as excinfo:
        person_heartbeat(person_id=person.pk)

    assert excinfo.value.code == "no_session"


def test_heartbeat_of_expired_session_signs_out_and_releases_the_task_as_stale(
    make_person, short_timeout
):
    person = make_person()
    (task,) = make_tasks("mine")
    person_login(person_id=person.pk)
    age_heartbeat(person, 10)

    with pytest.raises(SessionExpired) as excinfo:
        person_heartbeat(person_id=person.pk)

    assert excinfo.value.code == "session_expired"
    person.refresh_from_db()
    assert not person.is_logged_in and not person.is_busy
    released = Task.objects.get(pk=task.pk)
    assert released.status == TaskStatus.PENDING
    assert released.assigned_to_id is None
    assert released.created_at == task.created_at
    assignment = Assignment.objects.get()
    assert assignment.end_reason == EndReason.STALE
    assert assignment.ended_at is not None
    assert_invariants(expected_tasks=1)


def test_heartbeat_of_expired_session_keeps_refusing_afterwards(make_person, short_timeout):
    person = make_person()
    person_login(person_id=person.pk)
    age_heartbeat(person, 10)
    with pytest.raises(SessionExpired):
        person_heartbeat(person_id=person.pk)

    with pytest.raises(SessionExpired) as excinfo:
        person_heartbeat(person_id=person.pk)

    assert excinfo.value.code == "session_expired"


def test_heartbeat_unknown_person_raises_not_found():
    with pytest.raises(NotFound):
        person_heartbeat(person_id=UNKNOWN_ID)


# --- person_get / person_list_with_tasks ---


def test_get_person_sets_current_task(make_person):
    busy, free = make_person(), make_person()
    (task,) = make_tasks("only")
    person_login(person_id=busy.pk)
    person_login(person_id=free.pk)

    assert person_get(person_id=busy.pk).current_task.pk == task.pk
    assert person_get(person_id=free.pk).current_task is None


def test_get_person_ignores_completed_tasks(make_person):
    from tasks.services import task_complete

    person = make_person()
    (task,) = make_tasks("done soon")
    person_login(person_id=person.pk)
    task_complete(task_id=task.pk, person_id=person.pk)

    assert person_get(person_id=person.pk).current_task is None


def test_get_unknown_person_raises_not_found():
    with pytest.raises(NotFound):
        person_get(person_id=UNKNOWN_ID)


def test_list_with_tasks_sets_current_task_on_each_in_two_queries(
    make_person, django_assert_num_queries
):
    first, second, third = make_person("A"), make_person("B"), make_person("C")
    task_one, task_two = make_tasks("one", "two")
    person_login(person_id=first.pk)
    person_login(person_id=second.pk)
    person_login(person_id=third.pk)

    with django_assert_num_queries(2):
        people = person_list_with_tasks(Person.objects.order_by("name"))

    assert [p.pk for p in people] == [first.pk, second.pk, third.pk]
    assert [p.current_task and p.current_task.pk for p in people] == [
        task_one.pk,
        task_two.pk,
        None,
    ]


def test_list_with_tasks_of_an_empty_queryset_is_empty():
    assert person_list_with_tasks(Person.objects.none()) == []

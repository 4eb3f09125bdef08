import threading
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.test import override_settings

from personnel.models import Person
from personnel.selectors import person_get
from qcproject.db import db_now
from qcproject.exceptions import Conflict, DomainError, Forbidden, NotFound
from tasks.assigner import (
    CycleResult,
    assignment_assign,
    assignment_assign_batch,
    assignment_cycle,
    assignment_sweep_stale,
)
from tasks.models import Assignment, AssignmentSource, EndReason, Task, TaskStatus
from tasks.services import task_complete, task_create
from tasks.sessions import person_login, person_logout
from tasks.testing import age_heartbeat, bulk_people, bulk_tasks, make_tasks
from tasks.tests.invariants import (
    assert_db_refuses_inconsistent_rows,
    assert_db_refuses_second_open_assignment,
    assert_db_refuses_second_task_in_progress,
    assert_invariants,
    assert_nobody_waits,
    count_rows,
)

pytestmark = pytest.mark.django_db

UNKNOWN_ID = 987_654_321


def signed_in(make_person, *, idle_for=0, name=None):
    """A signed-in, free person, idle for `idle_for` seconds (on the database's clock)."""
    person = make_person(name)
    person_login(person_id=person.pk)
    Person.objects.filter(pk=person.pk).update(idle_since=Now() - timedelta(seconds=idle_for))
    return person_get(person_id=person.pk)


def holding(make_person, task=None):
    """A signed-in person holding the oldest pending task (a new one if none waits)."""
    if task is None and not Task.objects.pending().exists():
        make_tasks("held")
    person = make_person()
    result = person_login(person_id=person.pk)
    assert result.current_task is not None
    if task is not None:
        assert result.current_task.pk == task.pk
    return result, Task.objects.get(pk=result.current_task.pk)


# --- task_create ---


def test_create_single_task_is_pending_and_unassigned():
    (task,) = task_create(descriptions=["  Check the weld  "])

    task.refresh_from_db()
    assert task.description == "Check the weld"
    assert task.status == TaskStatus.PENDING
    assert task.assigned_to_id is None
    assert task.in_progress_person is None
    assert not Assignment.objects.exists()


def test_create_many_tasks_returns_them_in_creation_order():
    tasks = task_create(descriptions=["one", "two", "three"])

    assert [t.description for t in tasks] == ["one", "two", "three"]
    assert [t.pk for t in tasks] == sorted(t.pk for t in tasks)
    assert list(Task.objects.pending().values_list("pk", flat=True)) == [t.pk for t in tasks]
    assert all(t.status == TaskStatus.PENDING for t in tasks)


def test_created_at_comes_from_the_database_clock():
    before = db_now()

    tasks = task_create(descriptions=["one", "two"])

    after = db_now()
    for task in tasks:
        assert task.created_at is not None
        assert before <= task.created_at <= after
        assert Task.objects.get(pk=task.pk).created_at == task.created_at


@pytest.mark.parametrize("descriptions", [["fine", ""], ["fine", "   "], ["\n"]])
def test_create_with_blank_description_raises_and_writes_nothing(descriptions):
    with pytest.raises(DomainError) as excinfo:
        task_create(descriptions=descriptions)

    assert "blank" in excinfo.value.message
    assert excinfo.value.status_code == 400
    assert not Task.objects.exists()


def test_create_with_empty_list_raises():
    with pytest.raises(DomainError):
        task_create(descriptions=[])
    assert not Task.objects.exists()


@override_settings(QC_MAX_BULK_TASKS=3)
def test_create_more_than_the_bulk_limit_raises_and_writes_nothing():
    with pytest.raises(DomainError) as excinfo:
        task_create(descriptions=["a", "b", "c", "d"])

    assert "3" in excinfo.value.message
    assert not Task.objects.exists()


@override_settings(QC_MAX_BULK_TASKS=3)
def test_create_exactly_the_bulk_limit_is_allowed():
    assert len(task_create(descriptions=["a", "b", "c"])) == 3


def test_new_tasks_are_offered_only_once_the_transaction_commits(
    make_person, django_capture_on_commit_callbacks
):
    person = signed_in(make_person)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        (task,) = task_create(descriptions=["a"])

    assert len(callbacks) == 1
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING
    callbacks[0]()  # the commit
    assert person_get(person_id=person.pk).current_task.pk == task.pk


def test_new_tasks_are_offered_to_free_live_people_on_commit(
    make_person, django_capture_on_commit_callbacks
):
    longest_idle = signed_in(make_person, idle_for=60)
    recently_idle = signed_in(make_person, idle_for=5)
    busy, _ = holding(make_person)
    signed_out = make_person()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first, second, third = task_create(descriptions=["first", "second", "third"])

    assert len(callbacks) == 1
    assert person_get(person_id=longest_idle.pk).current_task.pk == first.pk
    assert person_get(person_id=recently_idle.pk).current_task.pk == second.pk
    assert Task.objects.get(pk=third.pk).status == TaskStatus.PENDING
    new = Assignment.objects.filter(task__in=[first, second])
    assert {a.source for a in new} == {AssignmentSource.NEW_TASK}
    assert person_get(person_id=busy.pk).current_task.pk != third.pk
    assert not Assignment.objects.filter(person=signed_out).exists()
    assert_invariants(expected_tasks=4)


def test_new_tasks_are_not_offered_to_stale_people(
    make_person, short_timeout, django_capture_on_commit_callbacks
):
    stale = signed_in(make_person)
    age_heartbeat(stale, 10)

    with django_capture_on_commit_callbacks(execute=True):
        (task,) = task_create(descriptions=["nobody live"])

    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING
    assert not Assignment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_new_tasks_are_offered_at_once_after_a_real_commit(make_person):
    person = signed_in(make_person)

    tasks = task_create(descriptions=["a", "b"])

    assert tasks[0].status == TaskStatus.IN_PROGRESS  # returned as after the offer
    assert tasks[0].assigned_to_id == person.pk
    assert tasks[1].status == TaskStatus.PENDING
    assignment = Assignment.objects.get()
    assert assignment.source == AssignmentSource.NEW_TASK
    assert assignment.task_id == tasks[0].pk
    assert_invariants(expected_tasks=2)


# --- task_complete ---


def test_complete_by_assignee_completes_and_closes_the_assignment(make_person):
    person, task = holding(make_person)
    before = db_now()

    result = task_complete(task_id=task.pk, person_id=person.pk)

    assert result.changed is True
    assert result.task.pk == task.pk
    assert result.task.status == TaskStatus.COMPLETED
    done = Task.objects.get(pk=task.pk)
    assert done.status == TaskStatus.COMPLETED
    assert done.assigned_to_id == person.pk  # who completed it
    assert done.in_progress_person is None
    assignment = Assignment.objects.get(task=task)
    assert assignment.end_reason == EndReason.COMPLETED
    assert assignment.completed_at is not None
    assert assignment.ended_at == assignment.completed_at
    assert assignment.completed_at >= before
    assert_invariants(expected_tasks=1)
    assert_db_refuses_inconsistent_rows(task.pk)


def test_complete_assigns_the_next_pending_task_in_the_same_call(make_person):
    task, next_oldest, newest = make_tasks("first", "second", "third")
    person, _ = holding(make_person, task)

    result = task_complete(task_id=task.pk, person_id=person.pk)

    assert result.next_task.pk == next_oldest.pk
    assert result.next_task.status == TaskStatus.IN_PROGRESS
    after = person_get(person_id=person.pk)
    assert after.is_busy and after.idle_since is None
    assert after.current_task.pk == next_oldest.pk
    nxt = Assignment.objects.get(task=next_oldest)
    assert nxt.person_id == person.pk
    assert nxt.source == AssignmentSource.COMPLETE
    assert nxt.ended_at is None
    assert Task.objects.get(pk=newest.pk).status == TaskStatus.PENDING
    assert_invariants(expected_tasks=3)
    assert_db_refuses_second_task_in_progress(person.pk)
    assert_db_refuses_second_open_assignment(next_oldest.pk)


def test_complete_with_empty_queue_leaves_the_person_free_and_idle(make_person):
    person, task = holding(make_person)
    age_heartbeat(person, 30)
    before = db_now()

    result = task_complete(task_id=task.pk, person_id=person.pk)

    assert result.next_task is None
    after = person_get(person_id=person.pk)
    assert after.is_logged_in and not after.is_busy
    assert after.current_task is None
    assert after.idle_since >= before
    assert after.last_heartbeat >= before  # a complete is a sign of life
    assert_invariants(expected_tasks=1)


def test_repeated_complete_returns_unchanged_and_writes_nothing(make_person):
    person, task = holding(make_person)
    task_complete(task_id=task.pk, person_id=person.pk)
    before = count_rows()

    again = task_complete(task_id=task.pk, person_id=person.pk)

    assert again.changed is False
    assert again.task.pk == task.pk
    assert again.task.status == TaskStatus.COMPLETED
    assert again.next_task is None
    assert count_rows() == before


def test_repeated_complete_returns_the_current_task_as_next(make_person):
    task, following = make_tasks("first", "second")
    person, _ = holding(make_person, task)
    first = task_complete(task_id=task.pk, person_id=person.pk)
    before = count_rows()

    again = task_complete(task_id=task.pk, person_id=person.pk)

    assert again.changed is False
    assert again.next_task.pk == first.next_task.pk == following.pk
    assert count_rows() == before


def test_repeated_complete_by_supervisor_returns_unchanged(make_person):
    person, task = holding(make_person)
    task_complete(task_id=task.pk, person_id=person.pk)
    before = count_rows()

    again = task_complete(task_id=task.pk, person_id=None)

    assert again.changed is False
    assert count_rows() == before


def test_complete_by_other_person_is_forbidden(make_person):
    holder, task = holding(make_person)
    stranger = signed_in(make_person)
    before = count_rows()

    with pytest.raises(Forbidden) as excinfo:
        task_complete(task_id=task.pk, person_id=stranger.pk)

    assert excinfo.value.status_code == 403
    assert count_rows() == before
    assert person_get(person_id=holder.pk).current_task.pk == task.pk


def test_complete_of_a_task_completed_by_someone_else_is_forbidden(make_person):
    holder, task = holding(make_person)
    task_complete(task_id=task.pk, person_id=holder.pk)
    stranger = signed_in(make_person)

    with pytest.raises(Forbidden):
        task_complete(task_id=task.pk, person_id=stranger.pk)


def test_complete_of_a_never_assigned_task_by_a_person_is_forbidden(make_person):
    (task,) = make_tasks("waiting")  # stays pending: nobody is signed in
    stranger = make_person()

    with pytest.raises(Forbidden):
        task_complete(task_id=task.pk, person_id=stranger.pk)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING


def test_complete_after_logout_is_a_conflict(make_person):
    person, task = holding(make_person)
    person_logout(person_id=person.pk)
    before = count_rows()

    with pytest.raises(Conflict) as excinfo:
        task_complete(task_id=task.pk, person_id=person.pk)

    assert excinfo.value.code == "task_not_in_progress"
    assert excinfo.value.status_code == 409
    assert count_rows() == before
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING


def test_complete_after_stale_sweep_is_a_conflict(make_person, short_timeout):
    person, task = holding(make_person)
    age_heartbeat(person, 10)
    assignment_sweep_stale()
    before = count_rows()

    with pytest.raises(Conflict):
        task_complete(task_id=task.pk, person_id=person.pk)

    assert count_rows() == before
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING


def test_complete_after_the_task_was_reassigned_is_a_conflict_for_the_first_person(
    make_person,
):
    first, task = holding(make_person)
    person_logout(person_id=first.pk)
    person_login(person_id=first.pk)  # signed in again, with the same task back
    person_logout(person_id=first.pk)
    second, _ = holding(make_person, task)
    before = count_rows()

    with pytest.raises(Conflict):
        task_complete(task_id=task.pk, person_id=first.pk)

    assert count_rows() == before
    assert task_complete(task_id=task.pk, person_id=second.pk).changed is True
    assert Assignment.objects.get(task=task, end_reason=EndReason.COMPLETED).person_id == (
        second.pk
    )
    with pytest.raises(Conflict):  # completed by the second person: still not the first's
        task_complete(task_id=task.pk, person_id=first.pk)
    assert_invariants(expected_tasks=1)


def test_complete_by_supervisor_completes_for_the_holder(make_person, supervisor):
    task, following = make_tasks("first", "second")
    holder, _ = holding(make_person, task)

    result = task_complete(task_id=task.pk, person_id=None)

    assert result.changed is True
    assert Task.objects.get(pk=task.pk).status == TaskStatus.COMPLETED
    done = Assignment.objects.get(task=task)
    assert done.person_id == holder.pk
    assert done.end_reason == EndReason.COMPLETED
    # The holder moves on to the next task, as if they had completed it themselves.
    assert result.next_task.pk == following.pk
    assert person_get(person_id=holder.pk).current_task.pk == following.pk
    assert Assignment.objects.get(task=following).source == AssignmentSource.COMPLETE
    assert_invariants(expected_tasks=2)


def test_supervisor_complete_is_no_sign_of_life_for_an_expired_holder(make_person, short_timeout):
    task, following = make_tasks("first", "second")
    holder, _ = holding(make_person, task)
    age_heartbeat(holder, 10)  # the holder's client is gone; the sweep has not run yet

    task_complete(task_id=task.pk, person_id=None)

    # The supervisor is not the holder: the holder's session stays expired, so the next
    # sweep signs them out and the next task goes back to the queue (I3), instead of
    # sitting under a dead session for another full timeout.
    signed_out, released = assignment_sweep_stale()
    assert signed_out == [holder.pk]
    assert Task.objects.get(pk=following.pk).status == TaskStatus.PENDING
    assert_invariants(expected_tasks=2)


def test_complete_of_a_pending_task_by_supervisor_is_a_conflict():
    (task,) = make_tasks("waiting")

    with pytest.raises(Conflict) as excinfo:
        task_complete(task_id=task.pk, person_id=None)

    assert excinfo.value.code == "task_not_in_progress"
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING


def test_complete_of_a_released_pending_task_by_its_last_holder_is_a_conflict(make_person):
    person, task = holding(make_person)
    person_logout(person_id=person.pk)

    with pytest.raises(Conflict):
        task_complete(task_id=task.pk, person_id=None)
    with pytest.raises(Conflict):
        task_complete(task_id=task.pk, person_id=person.pk)


@pytest.mark.parametrize("as_supervisor", [True, False])
def test_complete_of_an_unknown_task_is_not_found(make_person, as_supervisor):
    person = signed_in(make_person)

    with pytest.raises(NotFound):
        task_complete(task_id=UNKNOWN_ID, person_id=None if as_supervisor else person.pk)


def test_complete_by_an_unknown_person_is_a_domain_error(make_person):
    _, task = holding(make_person)

    # A raw Person.DoesNotExist would be a 500 behind the API; every other service answers
    # an unknown person with NotFound.
    with pytest.raises(DomainError):
        task_complete(task_id=task.pk, person_id=UNKNOWN_ID)


def test_completed_task_is_never_assigned_again(make_person):
    person, task = holding(make_person)
    task_complete(task_id=task.pk, person_id=person.pk)
    person_logout(person_id=person.pk)
    others = [signed_in(make_person) for _ in range(2)]

    person_login(person_id=person.pk)
    result = assignment_cycle()

    assert result.assigned == 0
    assert all(person_get(person_id=p.pk).current_task is None for p in others)
    assert Assignment.objects.filter(task=task).count() == 1
    assert_invariants(expected_tasks=1)


# --- assignment_sweep_stale ---


def test_sweep_signs_out_only_stale_people_and_releases_their_tasks(make_person, short_timeout):
    stale_task, live_task, newer = make_tasks("stale's", "live's", "newer")
    stale, _ = holding(make_person, stale_task)
    live, _ = holding(make_person, live_task)
    age_heartbeat(stale, 10)
    live_before = Person.objects.get(pk=live.pk)

    signed_out, released = assignment_sweep_stale()

    assert signed_out == [stale.pk]
    assert released == [stale_task.pk]
    gone = Person.objects.get(pk=stale.pk)
    assert not gone.is_logged_in and not gone.is_busy
    assert gone.logged_in_at is None and gone.idle_since is None
    back = Task.objects.get(pk=stale_task.pk)
    assert back.status == TaskStatus.PENDING and back.assigned_to_id is None
    assert back.created_at == stale_task.created_at
    assignment = Assignment.objects.get(task=stale_task)
    assert assignment.end_reason == EndReason.STALE
    assert assignment.ended_at is not None and assignment.completed_at is None
    # The live person is untouched.
    live_after = Person.objects.get(pk=live.pk)
    assert live_after.is_logged_in and live_after.is_busy
    assert live_after.last_heartbeat == live_before.last_heartbeat
    assert Assignment.objects.get(task=live_task).ended_at is None
    assert_invariants(expected_tasks=3)


def test_swept_task_is_first_in_the_queue_again(make_person, short_timeout):
    old, newer = make_tasks("old", "newer")
    stale, _ = holding(make_person, old)
    age_heartbeat(stale, 10)
    assignment_sweep_stale()

    replacement, task = holding(make_person)

    assert task.pk == old.pk
    assert Task.objects.pending().first().pk == newer.pk


def test_sweep_signs_out_stale_free_people_too(make_person, short_timeout):
    person = signed_in(make_person)
    age_heartbeat(person, 10)

    assert assignment_sweep_stale() == ([person.pk], [])
    assert not Person.objects.get(pk=person.pk).is_logged_in


def test_sweep_ignores_signed_out_and_live_people(make_person, short_timeout):
    signed_out = make_person()
    Person.objects.filter(pk=signed_out.pk).update(last_heartbeat=Now() - timedelta(hours=1))
    signed_in(make_person)
    before = count_rows()

    assert assignment_sweep_stale() == ([], [])
    assert count_rows() == before


def test_sweep_honours_the_limit_oldest_heartbeat_first(make_person, short_timeout):
    people = [holding(make_person)[0] for _ in range(3)]
    for seconds, person in zip([30, 10, 20], people, strict=True):
        age_heartbeat(person, seconds)

    first, _ = assignment_sweep_stale(limit=2)
    second, _ = assignment_sweep_stale(limit=2)

    assert first == [people[0].pk, people[2].pk]
    assert second == [people[1].pk]
    assert assignment_sweep_stale(limit=2) == ([], [])
    assert_invariants(expected_tasks=3)


def test_sweep_honours_an_explicit_timeout(make_person):
    person = signed_in(make_person)
    age_heartbeat(person, 3)

    assert assignment_sweep_stale(timeout=5) == ([], [])
    assert assignment_sweep_stale(timeout=2) == ([person.pk], [])


# --- assignment_assign_batch / assignment_assign / assignment_cycle ---


def test_oldest_task_goes_to_the_longest_idle_person(make_person):
    recent = signed_in(make_person, idle_for=10)
    longest = signed_in(make_person, idle_for=300)
    middle = signed_in(make_person, idle_for=60)
    oldest, second, third = make_tasks("oldest", "second", "third")

    pairs = assignment_assign_batch()

    assert pairs == [(longest.pk, oldest.pk), (middle.pk, second.pk), (recent.pk, third.pk)]
    assert {a.source for a in Assignment.objects.all()} == {AssignmentSource.ASSIGNER}
    for person_id, task_id in pairs:
        person = person_get(person_id=person_id)
        assert person.is_busy and person.idle_since is None
        assert person.current_task.pk == task_id
    assert_invariants(expected_tasks=3)
    assert_db_refuses_second_task_in_progress(longest.pk)
    assert_db_refuses_second_open_assignment(oldest.pk)


def test_fewer_tasks_than_people_serves_the_longest_idle(make_person):
    recent = signed_in(make_person, idle_for=10)
    longest = signed_in(make_person, idle_for=300)
    (task,) = make_tasks("only")

    assert assignment_assign_batch() == [(longest.pk, task.pk)]
    recent = person_get(person_id=recent.pk)
    assert recent.is_logged_in and not recent.is_busy
    assert recent.idle_since is not None
    assert_invariants(expected_tasks=1)


def test_fewer_people_than_tasks_leaves_the_newest_waiting(make_person):
    person = signed_in(make_person)
    oldest, newer = make_tasks("oldest", "newer")

    assert assignment_assign_batch() == [(person.pk, oldest.pk)]
    assert Task.objects.get(pk=newer.pk).status == TaskStatus.PENDING


def test_assign_gives_nothing_to_busy_signed_out_or_stale_people(make_person, short_timeout):
    busy, _ = holding(make_person)
    make_person()  # never signed in
    stale = signed_in(make_person)
    age_heartbeat(stale, 10)
    make_tasks("waiting")
    before = count_rows()

    assert assignment_assign_batch() == []
    assert assignment_assign() == 0
    assert count_rows() == before


def test_assign_with_nobody_or_nothing_does_nothing(make_person):
    assert assignment_assign_batch() == []
    signed_in(make_person)
    assert assignment_assign_batch() == []
    assert assignment_assign() == 0


def test_assign_batch_honours_the_limit(make_person):
    people = [signed_in(make_person, idle_for=100 - i) for i in range(3)]
    make_tasks("a", "b", "c")

    pairs = assignment_assign_batch(limit=2)

    assert [p for p, _ in pairs] == [people[0].pk, people[1].pk]


@override_settings(QC_ASSIGN_BATCH_SIZE=2)
def test_assign_runs_batch_after_batch_until_nothing_pairs(make_person):
    for i in range(5):
        signed_in(make_person, idle_for=100 - i)
    make_tasks(*"abcdefg")

    assert assignment_assign() == 5
    assert Task.objects.pending().count() == 2
    assert Assignment.objects.count() == 5
    assert_invariants(expected_tasks=7)


@override_settings(QC_ASSIGN_BATCH_SIZE=2)
def test_assign_honours_limit_and_stop_between_batches(make_person):
    for i in range(5):
        signed_in(make_person, idle_for=100 - i)
    make_tasks(*"abcdefg")

    assert assignment_assign(limit=3) == 3
    stop = threading.Event()
    stop.set()
    assert assignment_assign(stop=stop) == 2  # one batch, then it notices the stop
    assert Assignment.objects.count() == 5


def test_one_cycle_pairs_500_free_people_with_the_500_oldest_of_1000_tasks():
    people = bulk_people(500)
    task_ids = bulk_tasks(1000)

    result = assignment_cycle()

    assert result.assigned == 500
    assert result.signed_out == [] and result.released == []
    assert Person.objects.filter(is_busy=True).count() == 500
    assert set(
        Task.objects.filter(status=TaskStatus.IN_PROGRESS).values_list("id", flat=True)
    ) == set(task_ids[:500])
    assert set(Task.objects.pending().values_list("id", flat=True)) == set(task_ids[500:])
    assert Assignment.objects.open().count() == 500
    assert set(Assignment.objects.values_list("person_id", flat=True)) == set(people)
    assert_invariants(expected_tasks=1000)
    assert assignment_cycle().assigned == 0  # nobody free any more


def test_one_cycle_with_fewer_tasks_than_people_assigns_every_task():
    bulk_people(50)
    bulk_tasks(20)

    result = assignment_cycle()

    assert result.assigned == 20
    assert not Task.objects.pending().exists()
    assert Person.objects.free().count() == 30
    assert_invariants(expected_tasks=20)
    assert_nobody_waits()


def test_cycle_signs_out_stale_people_first_and_reassigns_their_tasks(make_person, short_timeout):
    stale_tasks = make_tasks("s1", "s2")
    stale = [holding(make_person, t)[0] for t in stale_tasks]
    for person in stale:
        age_heartbeat(person, 10)
    live = [signed_in(make_person, idle_for=10 - i) for i in range(3)]
    task_create(descriptions=["p1", "p2", "p3", "p4"])  # newer than the released ones

    result = assignment_cycle()

    assert isinstance(result, CycleResult) and result
    assert sorted(result.signed_out) == sorted(p.pk for p in stale)
    assert sorted(result.released) == sorted(t.pk for t in stale_tasks)
    assert result.assigned == 3
    # The released tasks kept their place at the head of the queue.
    assert person_get(person_id=live[0].pk).current_task.pk == stale_tasks[0].pk
    assert person_get(person_id=live[1].pk).current_task.pk == stale_tasks[1].pk
    assert Task.objects.pending().count() == 3
    assert_invariants(expected_tasks=6)
    assert_nobody_waits()


def test_cycle_gives_stale_unswept_free_people_nothing_and_signs_them_out(
    make_person, short_timeout
):
    stale = signed_in(make_person)
    age_heartbeat(stale, 10)
    make_tasks("waiting")

    result = assignment_cycle()

    assert result.signed_out == [stale.pk]
    assert result.assigned == 0
    assert not Assignment.objects.exists()


@override_settings(QC_ASSIGN_BATCH_SIZE=2)
def test_cycle_sweeps_batch_after_batch(make_person, short_timeout):
    people = [signed_in(make_person) for _ in range(5)]
    for person in people:
        age_heartbeat(person, 10)

    result = assignment_cycle()

    assert sorted(result.signed_out) == sorted(p.pk for p in people)


def test_empty_cycle_is_falsy():
    result = assignment_cycle()

    assert not result
    assert (result.signed_out, result.released, result.assigned) == ([], [], 0)


def test_cycle_with_stop_already_set_does_nothing(make_person, short_timeout):
    stale = signed_in(make_person)
    age_heartbeat(stale, 10)
    make_tasks("waiting")
    stop = threading.Event()
    stop.set()

    assert not assignment_cycle(stop=stop)
    assert Person.objects.get(pk=stale.pk).is_logged_in

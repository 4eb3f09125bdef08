"""Real threads against MariaDB/MySQL: row locks, SKIP LOCKED and the completion fence.

Each test lines its threads up on a barrier so the calls really overlap, closes each
thread's connection, and checks the invariants (I1–I4) after every round.
"""

import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from personnel.models import Person
from personnel.selectors import person_get
from qcproject.exceptions import Conflict
from tasks.assigner import assignment_cycle, assignment_sweep_stale
from tasks.models import Assignment, AssignmentSource, EndReason, Task, TaskStatus
from tasks.services import CompleteResult, task_complete, task_create
from tasks.sessions import SessionExpired, person_heartbeat, person_login, person_logout
from tasks.testing import age_heartbeat, bulk_people
from tasks.tests.invariants import (
    assert_counters_match,
    assert_invariants,
    assert_nobody_waits,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.fixture(autouse=True)
def counters_agree_afterwards():
    """Whatever a race did, the metrics' totals still agree with the rows."""
    yield
    assert_counters_match()


ROUNDS = 30


def run_at_once(*calls, timeout=30):
    """Run each call in its own thread, released together by a barrier.

    Returns, per call, its return value or the exception it raised.
    """
    barrier = threading.Barrier(len(calls), timeout=timeout)
    outcomes = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except BaseException as exc:  # handed back to the test, which judges it
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, call), daemon=True) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return outcomes


def add_pending_task(description):
    """A pending task, without task_create's on-commit offer to free people."""
    return Task.objects.create(description=description)


def give_task(person_id, description):
    """Make sure the person is signed in and holds a fresh task; return that task."""
    task = add_pending_task(description)
    person = person_login(person_id=person_id)
    assert person.current_task is not None and person.current_task.pk == task.pk
    return task


def test_three_assigners_and_completing_people_never_double_book():
    total = 500
    people = bulk_people(50)
    Task.objects.bulk_create([Task(description=f"early {i}") for i in range(250)])
    stop = threading.Event()
    completed = []  # task ids of completes that changed something
    errors = []
    starting = threading.Barrier(3 + 1 + 5, timeout=30)

    def thread(body):
        def run():
            try:
                starting.wait()
                body()
            except BaseException as exc:
                errors.append(exc)
                stop.set()
            finally:
                connection.close()

        return threading.Thread(target=run, daemon=True)

    def assigner():
        while not stop.is_set():
            assignment_cycle(stop=stop)
            time.sleep(0.002)

    def producer():
        # The other half arrives while the engine runs, offered on commit (NEW_TASK).
        for batch in range(10):
            task_create(descriptions=[f"late {batch}-{i}" for i in range(25)])
            time.sleep(0.02)

    def worker(person_ids):
        rng = random.Random(person_ids[0])
        while not stop.is_set():
            held = dict(
                Task.objects.filter(in_progress_person__in=person_ids).values_list(
                    "in_progress_person", "id"
                )
            )
            if not held:
                time.sleep(0.005)
                continue
            for person_id, task_id in held.items():
                roll = rng.random()
                if roll < 0.05:  # walk away and come back: the task goes back to the queue
                    person_logout(person_id=person_id)
                    person_login(person_id=person_id)
                    continue
                if roll < 0.15:
                    person_heartbeat(person_id=person_id)
                result = task_complete(task_id=task_id, person_id=person_id)
                assert result.changed, f"complete of {task_id} by {person_id} changed nothing"
                completed.append(task_id)

    threads = [thread(assigner) for _ in range(3)]
    threads.append(thread(producer))
    threads += [thread(lambda ids=people[i::5]: worker(ids)) for i in range(5)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 45
    while not stop.is_set() and time.monotonic() < deadline:
        if Task.objects.filter(status=TaskStatus.COMPLETED).count() == total:
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert not errors, errors

    assert len(completed) == total
    assert len(set(completed)) == total, "a task was completed twice"
    assert Task.objects.filter(status=TaskStatus.COMPLETED).count() == total
    assert Assignment.objects.filter(end_reason=EndReason.COMPLETED).count() == total
    assert not Assignment.objects.open().exists()
    assert not Person.objects.filter(is_busy=True).exists()
    sources = set(Assignment.objects.values_list("source", flat=True))
    assert {AssignmentSource.ASSIGNER, AssignmentSource.COMPLETE} <= sources
    assert_invariants(expected_tasks=total)
    assert_counters_match()
    assignment_cycle()
    assert_nobody_waits()


def drain_queue(person_id):
    """Complete whatever waits (a task the sweep released), so each round starts clean."""
    while Task.objects.pending().exists():
        holder = person_login(person_id=person_id)
        task_complete(task_id=holder.current_task.pk, person_id=person_id)


def test_complete_racing_the_stale_sweep_has_exactly_one_winner(make_person, short_timeout):
    person_id = make_person().pk
    wins = Counter()

    for round_ in range(ROUNDS):
        task = give_task(person_id, f"round {round_}")
        age_heartbeat(person_id, 10)

        completed, swept = run_at_once(
            lambda task=task: task_complete(task_id=task.pk, person_id=person_id),
            assignment_sweep_stale,
        )

        assert not isinstance(swept, BaseException), swept
        signed_out, released = swept
        task.refresh_from_db()
        reasons = list(Assignment.objects.filter(task=task).values_list("end_reason", flat=True))
        if isinstance(completed, CompleteResult):
            wins["complete"] += 1
            assert completed.changed
            assert task.status == TaskStatus.COMPLETED
            assert reasons == [EndReason.COMPLETED]
            assert task.pk not in released, f"round {round_}: completed and released"
            assert person_id not in signed_out  # the complete refreshed the heartbeat
            assert Person.objects.get(pk=person_id).is_logged_in
        else:
            wins["sweep"] += 1
            assert isinstance(completed, Conflict), completed
            assert task.status == TaskStatus.PENDING
            assert (signed_out, released) == ([person_id], [task.pk])
            assert reasons == [EndReason.STALE]
            assert not Person.objects.get(pk=person_id).is_logged_in
        assert_invariants(expected_tasks=round_ + 1)
        drain_queue(person_id)

    assert sum(wins.values()) == ROUNDS
    print(f"complete vs sweep: {dict(wins)}")


def test_heartbeat_racing_the_stale_sweep_has_one_consistent_outcome(make_person, short_timeout):
    person_id = make_person().pk
    outcomes = Counter()
    rng = random.Random(7)

    for round_ in range(ROUNDS):
        task = give_task(person_id, f"round {round_}")
        # Right at the edge of the 1 s timeout, so which call runs first decides.
        age_heartbeat(person_id, 1 - rng.uniform(0, 0.02))

        beat, swept = run_at_once(
            lambda: person_heartbeat(person_id=person_id), assignment_sweep_stale
        )

        assert not isinstance(swept, BaseException), swept
        signed_out, released = swept
        person = person_get(person_id=person_id)
        task.refresh_from_db()
        if isinstance(beat, Person):
            outcomes["heartbeat"] += 1
            assert (signed_out, released) == ([], [])
            assert person.is_logged_in and person.is_busy
            assert person.current_task.pk == task.pk
            assert task.status == TaskStatus.IN_PROGRESS
            assert Assignment.objects.open().get(task=task).person_id == person_id
            task_complete(task_id=task.pk, person_id=person_id)
        else:
            outcomes[f"expired ({getattr(beat, 'code', beat)})"] += 1
            assert isinstance(beat, SessionExpired), beat
            assert not person.is_logged_in and not person.is_busy
            assert person.current_task is None
            assert task.status == TaskStatus.PENDING and task.assigned_to_id is None
            assert not Assignment.objects.open().exists()
            assert Assignment.objects.get(task=task).end_reason == EndReason.STALE
            assert released in ([], [task.pk])  # the sweep, or the heartbeat, released it
        assert_invariants(expected_tasks=round_ + 1)
        drain_queue(person_id)

    assert sum(outcomes.values()) == ROUNDS
    print(f"heartbeat vs sweep: {dict(outcomes)}")


@pytest.mark.parametrize("second_caller", ["person", "supervisor"])
def test_concurrent_completes_of_one_task_change_it_once(make_person, second_caller):
    person_id = make_person().pk
    second = person_id if second_caller == "person" else None
    task = give_task(person_id, "first")

    for round_ in range(ROUNDS // 2):
        following = add_pending_task(f"after round {round_}")

        results = run_at_once(
            lambda task=task: task_complete(task_id=task.pk, person_id=person_id),
            lambda task=task: task_complete(task_id=task.pk, person_id=second),
        )

        assert all(isinstance(r, CompleteResult) for r in results), results
        assert sorted(r.changed for r in results) == [False, True]
        winner, loser = sorted(results, key=lambda r: not r.changed)
        assert winner.next_task.pk == following.pk
        assert loser.next_task.pk == following.pk  # the repeat answers as the first did
        assert Assignment.objects.filter(task=task, end_reason=EndReason.COMPLETED).count() == 1
        assert_invariants(expected_tasks=round_ + 2)
        task = following


def test_complete_racing_logout_has_exactly_one_winner(make_person):
    person_id = make_person().pk
    wins = Counter()

    for round_ in range(ROUNDS // 2):
        task = give_task(person_id, f"round {round_}")

        completed, logged_out = run_at_once(
            lambda task=task: task_complete(task_id=task.pk, person_id=person_id),
            lambda: person_logout(person_id=person_id),
        )

        assert not isinstance(logged_out, BaseException), logged_out
        task.refresh_from_db()
        reasons = list(Assignment.objects.filter(task=task).values_list("end_reason", flat=True))
        assert not logged_out.person.is_logged_in
        if isinstance(completed, CompleteResult):
            wins["complete"] += 1
            assert completed.changed
            assert task.status == TaskStatus.COMPLETED
            assert reasons == [EndReason.COMPLETED]
            assert logged_out.released == []
        else:
            wins["logout"] += 1
            assert isinstance(completed, Conflict), completed
            assert task.status == TaskStatus.PENDING
            assert reasons == [EndReason.LOGOUT]
            assert logged_out.released == [task.pk]
        assert_invariants(expected_tasks=round_ + 1)
        drain_queue(person_id)

    print(f"complete vs logout: {dict(wins)}")

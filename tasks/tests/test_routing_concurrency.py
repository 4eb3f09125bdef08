"""Routing under real concurrency, on MariaDB/MySQL: each rule (priority, skills, decline,
reconnect, time limits, expiry) raced against the paths that hand out and take back work,
with the invariants (I1–I4, I6) checked after every round."""

import random
import time
from datetime import timedelta

import pytest
from django.db.models.functions import Now

from personnel.models import Person
from personnel.selectors import person_get
from personnel.services import person_skills_set
from qcproject.db import db_now
from qcproject.exceptions import Conflict
from tasks import interventions
from tasks.assigner import assignment_cycle, assignment_sweep_stale, assignment_time_out
from tasks.models import Assignment, EndReason, Exclusion, Task, TaskStatus
from tasks.services import (
    CompleteResult,
    DeclineResult,
    NewTask,
    task_complete,
    task_create,
    task_decline,
)
from tasks.sessions import person_login, person_logout
from tasks.testing import age_heartbeat, bulk_people
from tasks.tests.invariants import assert_counters_match, assert_invariants
from tasks.tests.racing import Race
from tasks.tests.test_concurrency import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

ROUNDS = 15


@pytest.fixture(autouse=True)
def counters_agree_afterwards():
    yield
    assert_counters_match()


def add_task(description, **routing) -> Task:
    """A pending task, without task_create's on-commit offer to free people."""
    task = Task.objects.create(description=description, **routing)
    return task


def test_concurrent_sign_ins_take_the_best_tasks_each_once(make_person, supervisor):
    people = [make_person().pk for _ in range(8)]
    for round_ in range(ROUNDS // 3):
        high = {add_task(f"r{round_} high {i}", priority=5 + i % 4).pk for i in range(8)}
        low = {add_task(f"r{round_} low {i}").pk for i in range(4)}

        answers = run_at_once(*(lambda p=p: person_login(person_id=p) for p in people))

        assert all(isinstance(a, Person) for a in answers), answers
        given = [a.current_task.pk for a in answers]
        assert len(set(given)) == len(people)
        assert set(given) == high, "a low-priority task went while a higher one waited"
        assert all(Task.objects.get(pk=t).status == TaskStatus.PENDING for t in low)
        assert_invariants()
        for person_id in people:
            person_logout(person_id=person_id)
        for task_id in Task.objects.filter(status=TaskStatus.PENDING).values_list("id", flat=True):
            interventions.task_cancel(actor=supervisor, task_id=task_id)


def test_complete_racing_the_time_out_has_exactly_one_winner(make_person, supervisor):
    wins = {"complete": 0, "timed out": 0}
    for round_ in range(ROUNDS):
        # A new person each round: the assignment is aged past its limit by hand, which
        # would make it overlap the person's previous one.
        person_id = make_person().pk
        task = add_task(f"round {round_}", max_handle_seconds=1)
        assert person_login(person_id=person_id).current_task.pk == task.pk
        Assignment.objects.filter(open_task=task.pk).update(
            assigned_at=Now() - timedelta(seconds=5)
        )

        completed, taken = run_at_once(
            lambda task=task, person_id=person_id: task_complete(
                task_id=task.pk, person_id=person_id
            ),
            assignment_time_out,
        )

        assert not isinstance(taken, BaseException), taken
        reasons = list(Assignment.objects.filter(task=task).values_list("end_reason", flat=True))
        if isinstance(completed, CompleteResult):
            wins["complete"] += 1
            assert taken == [] and reasons == [EndReason.COMPLETED]
        else:
            wins["timed out"] += 1
            assert isinstance(completed, Conflict), completed
            assert taken == [(person_id, task.pk)] and reasons == [EndReason.TIMED_OUT]
            interventions.task_cancel(actor=supervisor, task_id=task.pk)
        assert_invariants()
    print(f"complete vs time-out: {wins}")


def test_decline_racing_complete_has_exactly_one_winner(make_person, supervisor):
    person_id = make_person().pk
    wins = {"complete": 0, "decline": 0}
    for round_ in range(ROUNDS):
        task = add_task(f"round {round_}")
        assert person_login(person_id=person_id).current_task.pk == task.pk

        completed, declined = run_at_once(
            lambda task=task: task_complete(task_id=task.pk, person_id=person_id),
            lambda task=task: task_decline(task_id=task.pk, person_id=person_id, reason="no"),
        )

        reasons = list(Assignment.objects.filter(task=task).values_list("end_reason", flat=True))
        if isinstance(completed, CompleteResult):
            wins["complete"] += 1
            assert isinstance(declined, Conflict), declined
            assert reasons == [EndReason.COMPLETED] and not Exclusion.objects.filter(task=task)
        else:
            wins["decline"] += 1
            assert isinstance(completed, Conflict) and isinstance(declined, DeclineResult)
            assert reasons == [EndReason.DECLINED]
            interventions.task_cancel(actor=supervisor, task_id=task.pk)
        assert_invariants()
    print(f"complete vs decline: {wins}")


def test_reconnect_racing_another_sign_in_gives_the_task_to_one(make_person, short_timeout):
    back, other = make_person().pk, make_person().pk
    for round_ in range(ROUNDS):
        mine = add_task(f"round {round_} mine", priority=1)
        assert person_login(person_id=back).current_task.pk == mine.pk
        age_heartbeat(back, 5)
        assignment_sweep_stale()
        spare = add_task(f"round {round_} spare")

        answers = run_at_once(
            lambda: person_login(person_id=back), lambda: person_login(person_id=other)
        )

        assert all(isinstance(a, Person) for a in answers), answers
        got = {a.pk: a.current_task.pk for a in answers}
        assert sorted(got.values()) == sorted([mine.pk, spare.pk])
        if got[back] == mine.pk:
            assert got[other] == spare.pk  # passed over while the reconnect held it
        assert_invariants()
        for person_id in (back, other):
            held = person_get(person_id=person_id).current_task
            task_complete(task_id=held.pk, person_id=person_id)
            person_logout(person_id=person_id)


def test_reassign_racing_a_skill_change_never_leaves_a_task_without_its_skill(
    make_person, supervisor
):
    person = make_person()
    for round_ in range(ROUNDS):
        Person.objects.filter(pk=person.pk).update(skills=["welding"])
        person_login(person_id=person.pk)
        task = add_task(f"round {round_}", skill="welding")

        reassigned, changed = run_at_once(
            lambda task=task: interventions.task_reassign(
                actor=supervisor, task_id=task.pk, person_id=person.pk
            ),
            lambda: person_skills_set(actor=supervisor, person_id=person.pk, skills=[]),
        )

        if isinstance(changed, Conflict):  # the reassignment came first
            assert changed.code == "skill_in_use"
            assert person_get(person_id=person.pk).current_task.pk == task.pk
        else:
            assert isinstance(reassigned, Conflict) and reassigned.code == "skill_missing"
        assert_invariants()
        interventions.task_cancel(actor=supervisor, task_id=task.pk)
        person_logout(person_id=person.pk)


def test_expiry_racing_sign_ins_and_cycles_never_assigns_an_expired_task(make_person):
    people = [make_person().pk for _ in range(4)]
    for round_ in range(ROUNDS // 3):
        soon = db_now() + timedelta(milliseconds=150)
        for i in range(6):
            Task.objects.create(description=f"r{round_} t{i}", expires_at=soon, priority=9)
        time.sleep(random.uniform(0.1, 0.2))

        outcomes = run_at_once(
            *(lambda p=p: person_login(person_id=p) for p in people),
            assignment_cycle,
            assignment_cycle,
        )

        assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
        time.sleep(0.2)
        assignment_cycle()
        assert not Task.objects.filter(status=TaskStatus.PENDING).exists()
        assert_invariants()
        for person_id in people:
            held = person_get(person_id=person_id).current_task
            if held is not None:
                task_complete(task_id=held.pk, person_id=person_id)
            person_logout(person_id=person_id)


def test_skills_priorities_and_declines_hold_under_assigners_and_working_people():
    skills = ["welding", "painting", "x-ray", "electronics"]
    rng = random.Random(13)
    people = bulk_people(24, prefix="router")
    for i, person_id in enumerate(people):
        mine = {skills[i % len(skills)], *rng.sample(skills, rng.randint(0, 2))}
        Person.objects.filter(pk=person_id).update(skills=sorted(mine))
    total = 240
    for batch in range(4):
        task_create(
            tasks=[
                NewTask(
                    f"b{batch} t{i}",
                    priority=rng.randint(0, 9),
                    skill=rng.choice([None, *skills]),
                )
                for i in range(total // 4)
            ]
        )
    completed = []
    race = Race(2 + 4)
    stop, errors, thread, assigner = race.stop, race.errors, race.thread, race.assigner

    def worker(person_ids, seed):
        local = random.Random(seed)
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
                if local.random() < 0.15:
                    try:
                        task_decline(task_id=task_id, person_id=person_id, reason="not mine")
                    except Conflict:
                        pass
                    continue
                result = task_complete(task_id=task_id, person_id=person_id)
                assert result.changed
                completed.append(task_id)

    threads = [thread(assigner) for _ in range(2)]
    threads += [thread(lambda ids=people[i::4], s=i: worker(ids, s)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        left = Task.objects.filter(status__in=[TaskStatus.PENDING, TaskStatus.IN_PROGRESS])
        # Done when what is left waits only for people who declined it.
        if not left.filter(status=TaskStatus.IN_PROGRESS).exists() and all(
            Exclusion.objects.filter(task=t).exists() for t in left
        ):
            break
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert not errors, errors

    assert len(completed) == len(set(completed)), "a task was completed twice"
    assert len(completed) > total // 2
    assert Exclusion.objects.exists(), "nobody declined: the race tested nothing"
    assert_invariants(expected_tasks=total)

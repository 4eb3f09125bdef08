"""Outcomes under real concurrency, on MariaDB/MySQL (docs/engine.md, "Outcomes"): tasks
that need several reviews burned down by people completing and taking their next task while
assigners run, and a supervisor's reassign racing a reviewer's complete. Each review must be
by a different person, and no automatic path may give a task back to its reviewer."""

import random
import time
from collections import Counter

import pytest
from django.test import override_settings

from events.models import Event, EventType
from qcproject.exceptions import Conflict
from tasks import interventions
from tasks.models import (
    Assignment,
    AssignmentSource,
    AuditAction,
    AuditEvent,
    EndReason,
    Task,
    TaskStatus,
)
from tasks.services import CompleteResult, task_complete
from tasks.sessions import person_login, person_logout
from tasks.testing import bulk_people
from tasks.tests.invariants import assert_counters_match, assert_invariants
from tasks.tests.racing import Race
from tasks.tests.test_concurrency import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.fixture(autouse=True)
def counters_agree_afterwards():
    yield
    assert_counters_match()


def assert_reviews_by_different_people() -> None:
    """The rules of reviews, read from the rows on their own (beside `assert_invariants`)."""
    rows = list(
        Assignment.objects.order_by("id").values_list("id", "task_id", "person_id", "end_reason")
    )
    reviewed: dict[int, set[int]] = {}
    for _, task_id, person_id, reason in rows:
        mine = reviewed.setdefault(task_id, set())
        assert person_id not in mine, f"task {task_id} given again to its reviewer {person_id}"
        if reason == EndReason.COMPLETED:
            mine.add(person_id)
    for task in Task.objects.values("id", "status", "reviews_required", "reviews_done"):
        people = reviewed.get(task["id"], set())
        assert len(people) == task["reviews_done"], task
        if task["status"] in (TaskStatus.COMPLETED, TaskStatus.DISPUTED):
            assert len(people) >= task["reviews_required"], (task, people)
        else:
            assert len(people) < task["reviews_required"], (task, people)


@override_settings(QC_REVIEW_SAMPLE_RATE=0.5)
def test_reviews_burned_down_by_people_and_assigners_are_each_by_someone_else():
    people = bulk_people(24)
    rng = random.Random(14)
    # Mostly two or three reviews; some single ones, a share of which sampling doubles.
    required = [rng.choice([1, 2, 2, 3, 3]) for _ in range(90)]
    Task.objects.bulk_create(
        [Task(description=f"r{n} {i}", reviews_required=n) for i, n in enumerate(required)]
    )
    total = len(required)
    harsh = set(people[::5])  # these fail everything: disputes happen
    done: list[tuple[int, int]] = []  # (task, person) of every complete that changed something
    race = Race(2 + 4)
    stop, errors, thread, assigner = race.stop, race.errors, race.thread, race.assigner

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
                if rng.random() < 0.04:  # walk away and come back: the task goes back
                    person_logout(person_id=person_id)
                    person_login(person_id=person_id)
                    continue
                outcome = "fail" if person_id in harsh else rng.choice(["pass", "pass", ""])
                result = task_complete(task_id=task_id, person_id=person_id, outcome=outcome)
                assert result.changed, f"complete of {task_id} by {person_id} changed nothing"
                done.append((task_id, person_id))
                if result.next_task is not None:
                    assert result.next_task.pk != task_id, "the reviewer got the task back"

    threads = [thread(assigner) for _ in range(2)]
    threads += [thread(lambda ids=people[i::4]: worker(ids)) for i in range(4)]
    for t in threads:
        t.start()
    finished = Task.objects.filter(status__in=[TaskStatus.COMPLETED, TaskStatus.DISPUTED])
    deadline = time.monotonic() + 40
    while not stop.is_set() and time.monotonic() < deadline:
        if finished.count() == total:
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert not errors, errors

    assert finished.count() == total, Counter(Task.objects.values_list("status", flat=True))
    assert len(set(done)) == len(done), "a person reviewed a task twice"
    recorded = list(
        Assignment.objects.filter(end_reason=EndReason.COMPLETED).values_list(
            "task_id", "person_id"
        )
    )
    assert sorted(recorded) == sorted(done)
    for task in Task.objects.values("id", "status", "reviews_required", "reviews_done"):
        reviewers = [p for t, p in done if t == task["id"]]
        assert len(reviewers) == task["reviews_done"] >= task["reviews_required"], task
    statuses = Counter(Task.objects.values_list("status", flat=True))
    assert statuses[TaskStatus.DISPUTED] > 0 and statuses[TaskStatus.COMPLETED] > 0, statuses
    sampled = Task.objects.filter(sampled=True)
    assert sampled.exists() and not sampled.exclude(reviews_required=2).exists()
    assert not Assignment.objects.open().exists()
    sources = set(Assignment.objects.values_list("source", flat=True))
    assert {AssignmentSource.ASSIGNER, AssignmentSource.COMPLETE} <= sources
    assert_reviews_by_different_people()
    assert_invariants(expected_tasks=total)
    assert_counters_match()


ROUNDS = 20


def test_reassign_to_the_reviewer_racing_their_complete_never_gives_it_back(
    make_person, supervisor
):
    reviewer = make_person().pk
    verdicts = Counter()

    for round_ in range(ROUNDS):
        task = Task.objects.create(description=f"round {round_}", reviews_required=2)
        assert person_login(person_id=reviewer).current_task.pk == task.pk

        completed, reassigned = run_at_once(
            lambda task=task: task_complete(task_id=task.pk, person_id=reviewer, outcome="pass"),
            lambda task=task: interventions.task_reassign(
                actor=supervisor, task_id=task.pk, person_id=reviewer
            ),
        )

        assert isinstance(completed, CompleteResult) and completed.changed, completed
        assert isinstance(reassigned, Conflict), reassigned
        # Before the complete the task was the reviewer's already; after it, reviewed.
        verdicts[reassigned.code] += 1
        task.refresh_from_db()
        assert (task.status, task.reviews_done, task.assigned_to_id) == (
            TaskStatus.PENDING,
            1,
            None,
        )
        history = list(
            Assignment.objects.filter(task=task)
            .order_by("id")
            .values_list("person_id", "end_reason")
        )
        assert history == [(reviewer, EndReason.COMPLETED)]
        assert_invariants(expected_tasks=round_ + 1)
        interventions.task_cancel(actor=supervisor, task_id=task.pk)

    assert sum(verdicts.values()) == ROUNDS
    print(f"reassign to the reviewer vs their complete: {dict(verdicts)}")


def test_reassign_to_another_racing_the_reviewers_complete_has_one_consistent_outcome(
    make_person, supervisor
):
    reviewer, other = make_person().pk, make_person().pk
    wins = Counter()

    for round_ in range(ROUNDS):
        task = Task.objects.create(description=f"round {round_}", reviews_required=2)
        assert person_login(person_id=reviewer).current_task.pk == task.pk
        assert person_login(person_id=other).current_task is None

        completed, reassigned = run_at_once(
            lambda task=task: task_complete(task_id=task.pk, person_id=reviewer, outcome="pass"),
            lambda task=task: interventions.task_reassign(
                actor=supervisor, task_id=task.pk, person_id=other
            ),
        )

        task.refresh_from_db()
        history = list(
            Assignment.objects.filter(task=task)
            .order_by("id")
            .values_list("person_id", "end_reason")
        )
        if isinstance(reassigned, Conflict):
            # The supervisor looked while the reviewer held it, locked after the review:
            # told to look again; the task waits for its second review.
            wins["reassign: changed hands"] += 1
            assert reassigned.code == "changed", reassigned
            assert isinstance(completed, CompleteResult) and completed.changed, completed
            assert (task.status, task.reviews_done) == (TaskStatus.PENDING, 1)
            assert history == [(reviewer, EndReason.COMPLETED)]
        else:
            assert not isinstance(reassigned, BaseException), reassigned
            assert (task.status, task.assigned_to_id) == (TaskStatus.IN_PROGRESS, other)
            if isinstance(completed, CompleteResult):
                wins["complete, then reassign"] += 1
                assert history == [(reviewer, EndReason.COMPLETED), (other, "")]
                assert task.reviews_done == 1
            else:
                wins["reassign, then a refused complete"] += 1
                assert isinstance(completed, Conflict), completed
                assert history == [(reviewer, EndReason.REASSIGNED), (other, "")]
                assert task.reviews_done == 0
            task_complete(task_id=task.pk, person_id=other)
        assert_invariants(expected_tasks=round_ + 1)
        if Task.objects.get(pk=task.pk).status == TaskStatus.PENDING:  # reviews to come
            interventions.task_cancel(actor=supervisor, task_id=task.pk)
        person_logout(person_id=other)  # ready for the next round, free

    assert sum(wins.values()) == ROUNDS
    print(f"reassign to another vs the reviewer's complete: {dict(wins)}")


def test_two_supervisors_resolving_one_dispute_resolve_it_once(make_person, supervisor):
    first, second = make_person().pk, make_person().pk
    wins = Counter()

    for round_ in range(ROUNDS // 2):
        task = Task.objects.create(description=f"round {round_}", reviews_required=2)
        for person_id, outcome in ((first, "pass"), (second, "fail")):
            assert person_login(person_id=person_id).current_task.pk == task.pk
            task_complete(task_id=task.pk, person_id=person_id, outcome=outcome)
        assert Task.objects.get(pk=task.pk).status == TaskStatus.DISPUTED

        results = run_at_once(
            *(
                lambda task=task, outcome=outcome: interventions.task_resolve(
                    actor=supervisor, task_id=task.pk, outcome=outcome, note=f"said {outcome}"
                )
                for outcome in ("pass", "fail")
            )
        )

        won = [r for r in results if isinstance(r, interventions.InterventionResult)]
        lost = [r for r in results if isinstance(r, Conflict)]
        assert len(won) == 1 and len(lost) == 1, results
        assert lost[0].code == "task_not_disputed"
        task.refresh_from_db()
        assert (task.status, task.outcome) == (TaskStatus.COMPLETED, won[0].task.outcome)
        assert task.resolution_note == f"said {task.outcome}"
        assert AuditEvent.objects.filter(action=AuditAction.RESOLVE, task=task).count() == 1
        assert Event.objects.filter(type=EventType.TASK_RESOLVED, task_id=task.pk).count() == 1
        wins[task.outcome] += 1
        assert_invariants(expected_tasks=round_ + 1)

    print(f"two resolves of one dispute: {dict(wins)}")

"""Checks of the engine's invariants (docs/engine.md, Invariants I1–I4 and I6), read
straight from the tables, and probes that the database itself refuses a double booking.

`assert_invariants()` works in ordinary and in transactional tests; call it after every
scenario that moved tasks, and at the end of every concurrency test.
"""

from collections import defaultdict
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, F

from personnel.models import Person
from qcproject.db import db_now
from tasks.models import (
    RELEASE_REASONS,
    Assignment,
    AssignmentSource,
    EndReason,
    Exclusion,
    ExclusionReason,
    Task,
    TaskStatus,
)


def assert_invariants(*, expected_tasks: int | None = None) -> None:
    """Assert I1–I4 over the whole database.

    I1  no task in progress for two people, no person with two tasks in progress, and
        `is_busy` (and `is_logged_in`) agree with the tasks in progress;
    I3  tasks are conserved (`expected_tasks`, when given) and each task's status, assignee
        and open assignment agree;
    I4  every assignment starts once and ends at most once, with its reason; per task and
        per person the assignments never overlap in time; a completed (or disputed) task has
        exactly `reviews_done` COMPLETED assignments, at least `reviews_required`, each by a
        different person, the last its last assignment (never assigned again); a pending or
        in-progress task has fewer reviews than it needs; no person reviews a task twice, and
        no automatic path gives a task again to a person who reviewed it.
    """
    assert_routing_invariants()
    tasks = {
        t["id"]: t
        for t in Task.objects.values(
            "id", "status", "assigned_to_id", "reviews_required", "reviews_done", "outcome"
        )
    }
    people = {p["id"]: p for p in Person.objects.values("id", "is_logged_in", "is_busy")}
    assignments = list(
        Assignment.objects.order_by("id").values(
            "id",
            "task_id",
            "person_id",
            "assigned_at",
            "ended_at",
            "completed_at",
            "end_reason",
            "source",
        )
    )

    # I3: nothing lost, nothing duplicated.
    if expected_tasks is not None:
        assert len(tasks) == expected_tasks, f"{len(tasks)} tasks, expected {expected_tasks}"

    # I1 in SQL, independent of the unique keys that should make it impossible.
    doubled = (
        Task.objects.filter(status=TaskStatus.IN_PROGRESS)
        .values("assigned_to_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not doubled.exists(), f"people with two tasks in progress: {list(doubled)}"
    for field in ("task_id", "person_id"):
        doubled = Assignment.objects.open().values(field).annotate(n=Count("id")).filter(n__gt=1)
        assert not doubled.exists(), f"two open assignments for one {field}: {list(doubled)}"

    in_progress_by_person = {
        t["assigned_to_id"]: tid
        for tid, t in tasks.items()
        if t["status"] == TaskStatus.IN_PROGRESS
    }
    busy = {pid for pid, p in people.items() if p["is_busy"]}
    assert busy == set(in_progress_by_person), (
        f"is_busy disagrees with tasks in progress: busy without a task "
        f"{sorted(busy - set(in_progress_by_person))}, a task but not busy "
        f"{sorted(set(in_progress_by_person) - busy)}"
    )
    signed_out_busy = [pid for pid in busy if not people[pid]["is_logged_in"]]
    assert not signed_out_busy, f"signed out but holding a task: {signed_out_busy}"

    # I4: each assignment row on its own.
    by_task = defaultdict(list)
    by_person = defaultdict(list)
    for a in assignments:
        by_task[a["task_id"]].append(a)
        by_person[a["person_id"]].append(a)
        assert a["source"] in AssignmentSource.values, a
        if a["ended_at"] is None:
            assert a["end_reason"] == "" and a["completed_at"] is None, a
        else:
            assert a["end_reason"] in EndReason.values, a
            assert a["ended_at"] >= a["assigned_at"], f"ends before it starts: {a}"
        if a["end_reason"] == EndReason.COMPLETED:
            assert a["completed_at"] == a["ended_at"], a
        else:
            assert a["completed_at"] is None, a

    # I4: per task and per person, assignment intervals follow one another.
    for owner, rows in [*by_task.items(), *by_person.items()]:
        for earlier, later in zip(rows, rows[1:], strict=False):
            assert earlier["ended_at"] is not None, (
                f"assignment {earlier['id']} still open while {later['id']} started ({owner})"
            )
            assert earlier["ended_at"] <= later["assigned_at"], (
                f"assignments {earlier['id']} and {later['id']} overlap in time"
            )

    # I3/I4: each task agrees with its assignments (its reviews: docs/engine.md, "Outcomes").
    for tid, t in tasks.items():
        rows = by_task.get(tid, [])
        open_rows = [a for a in rows if a["ended_at"] is None]
        completed_rows = [a for a in rows if a["end_reason"] == EndReason.COMPLETED]
        reviewers = [a["person_id"] for a in completed_rows]
        assert len(set(reviewers)) == len(reviewers), f"task {tid} reviewed twice by one: {rows}"
        # A reviewer is never given the task again, except by a supervisor (who may not
        # either: reassign refuses a reviewer, so not even then).
        for review in completed_rows:
            again = [
                a for a in rows if a["person_id"] == review["person_id"] and a["id"] > review["id"]
            ]
            assert not again, f"task {tid} given again to its reviewer: {again}"
        if t["status"] in (TaskStatus.COMPLETED, TaskStatus.DISPUTED):
            assert not open_rows, (t, rows)
            assert len(completed_rows) == t["reviews_done"], (
                f"task {tid}: {len(completed_rows)} completions, reviews_done {t['reviews_done']}"
            )
            assert t["reviews_done"] >= t["reviews_required"], (
                f"task {tid} {t['status']} with {t['reviews_done']} of "
                f"{t['reviews_required']} reviews"
            )
            assert rows[-1] is completed_rows[-1], f"task {tid} assigned again after completion"
            assert completed_rows[-1]["person_id"] == t["assigned_to_id"], (t, rows)
            if t["status"] == TaskStatus.DISPUTED:
                assert t["outcome"] == "", t
            continue
        # Not finished: fewer reviews than it needs, each recorded.
        assert t["reviews_done"] < t["reviews_required"], t
        assert len(completed_rows) == t["reviews_done"], (t, rows)
        if t["status"] == TaskStatus.PENDING:
            assert t["assigned_to_id"] is None, t
            assert not open_rows, (t, rows)
        elif t["status"] == TaskStatus.IN_PROGRESS:
            assert len(open_rows) == 1, (t, rows)
            assert open_rows[0]["person_id"] == t["assigned_to_id"], (t, rows)
            assert open_rows[0]["person_id"] not in reviewers, (t, rows)
        elif t["status"] == TaskStatus.CANCELLED:
            assert t["assigned_to_id"] is None, t
            assert not open_rows, (t, rows)
            # Cancelled in progress, its last assignment ended CANCELLED; cancelled while it
            # waited, the last ended with what put it back in the queue, or was a review.
            if rows:
                assert rows[-1]["end_reason"] in (*RELEASE_REASONS, EndReason.COMPLETED), (
                    t,
                    rows,
                )
        else:
            assert t["status"] == TaskStatus.EXPIRED, t
            assert t["assigned_to_id"] is None, t
            assert not open_rows, (t, rows)


def assert_routing_invariants() -> None:
    """The routing rules (docs/engine.md, "Invariants", I6), read from the rows:

    - no task is in progress for a person without its skill, unless it had waited
      QC_SKILL_RELAX_AFTER seconds when it was given (its open assignment's start);
    - no task is ever given again by an automatic path (any source but a supervisor's) to a
      person who declined it, and every decline is recorded as an exclusion;
    - no task is given at or after its `expires_at` (beyond the moment between the pick
      and the write: a second), and an EXPIRED task had expired.
    """
    relax = settings.QC_SKILL_RELAX_AFTER
    for task in Task.objects.filter(status=TaskStatus.IN_PROGRESS, skill__isnull=False).values(
        "id", "skill", "created_at", "assigned_to__skills"
    ):
        if task["skill"] in (task["assigned_to__skills"] or ()):
            continue
        opened = Assignment.objects.get(open_task=task["id"])
        assert relax and opened.assigned_at >= task["created_at"] + timedelta(seconds=relax), (
            f"task {task['id']} needs {task['skill']!r}, held without it: {task}"
        )
    declined = defaultdict(list)
    for row in Assignment.objects.order_by("id").values(
        "id", "task_id", "person_id", "end_reason", "source", "decline_reason"
    ):
        key = (row["task_id"], row["person_id"])
        if declined[key]:
            assert row["source"] == AssignmentSource.SUPERVISOR, (
                f"task {key[0]} given again to person {key[1]}, who declined it: {row}"
            )
        if row["end_reason"] == EndReason.DECLINED:
            assert row["decline_reason"].strip(), row
            declined[key].append(row["id"])
        else:
            assert row["decline_reason"] == "", row
    excluded = set(
        Exclusion.objects.filter(reason=ExclusionReason.DECLINED).values_list(
            "task_id", "person_id"
        )
    )
    assert {k for k, v in declined.items() if v} <= excluded, "a decline without its exclusion"
    late = Assignment.objects.filter(
        task__expires_at__isnull=False,
        assigned_at__gte=F("task__expires_at") + timedelta(seconds=1),
    )
    assert not late.exists(), f"tasks given after they expired: {list(late.values('id'))}"
    now = db_now()
    early = Task.objects.filter(status=TaskStatus.EXPIRED).exclude(expires_at__lte=now)
    assert not early.exists(), f"EXPIRED before their expiry: {list(early.values('id'))}"


def assert_nobody_waits(*, timeout: int | None = None) -> None:
    """I2, once load has stopped and a cycle has run: no pending task while a live free
    person is idle."""
    free_live = Person.objects.free().filter(
        pk__in=Person.objects.live(timeout=timeout).values("pk")
    )
    if free_live.exists():
        assert not Task.objects.pending().exists(), "a task waits while a live person is free"


class _Rollback(Exception):
    pass


def _refused(write) -> str:
    """Run `write` in a savepoint, assert the database refuses it; return the error text."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        write()
    return str(excinfo.value)


def assert_db_refuses_second_task_in_progress(person_id: int) -> None:
    """The unique key on `in_progress_person` refuses a second task in progress for a person
    who has one. Every write is rolled back."""
    assert Task.objects.filter(in_progress_person=person_id).exists()
    try:
        with transaction.atomic():
            intruder = Task.objects.create(description="intruder")
            for write in (
                lambda: Task.objects.create(
                    description="intruder", status=TaskStatus.IN_PROGRESS, assigned_to_id=person_id
                ),
                lambda: Task.objects.filter(pk=intruder.pk).update(
                    status=TaskStatus.IN_PROGRESS, assigned_to_id=person_id
                ),
            ):
                assert "in_progress_person" in _refused(write)
            raise _Rollback
    except _Rollback:
        pass


def assert_db_refuses_second_open_assignment(task_id: int) -> None:
    """The unique keys on `open_task` / `open_person` refuse a second open assignment for a
    task that has one, and for a person who has one. Every write is rolled back."""
    holder = Assignment.objects.open().get(task_id=task_id)
    try:
        with transaction.atomic():
            user = get_user_model().objects.create(username="intruder-for-constraint-check")
            stranger = Person.objects.create(user=user, name="Intruder")
            spare = Task.objects.create(description="spare")
            message = _refused(
                lambda: Assignment.objects.create(
                    task_id=task_id, person=stranger, source=AssignmentSource.ASSIGNER
                )
            )
            assert "open_task" in message
            message = _refused(
                lambda: Assignment.objects.create(
                    task=spare, person_id=holder.person_id, source=AssignmentSource.ASSIGNER
                )
            )
            assert "open_person" in message
            # Reopening a closed assignment of the task collides as well.
            closed = Assignment.objects.create(
                task_id=task_id,
                person=stranger,
                source=AssignmentSource.ASSIGNER,
                ended_at=holder.assigned_at,
                end_reason=EndReason.LOGOUT,
            )
            message = _refused(
                lambda: Assignment.objects.filter(pk=closed.pk).update(ended_at=None, end_reason="")
            )
            assert "open_task" in message
            raise _Rollback
    except _Rollback:
        pass


def assert_db_refuses_inconsistent_rows(task_id: int) -> None:
    """The CHECK constraints: in progress needs an assignee, pending has none, and an
    assignment ends with a reason. Every write is rolled back."""
    try:
        with transaction.atomic():
            assert _refused(
                lambda: Task.objects.filter(pk=task_id).update(
                    status=TaskStatus.IN_PROGRESS, assigned_to=None
                )
            )
            some_person = Person.objects.values_list("pk", flat=True).first()
            assert _refused(
                lambda: Task.objects.filter(pk=task_id).update(
                    status=TaskStatus.PENDING, assigned_to_id=some_person
                )
            )
            # An open assignment with a reason, a closed one without.
            for row in Assignment.objects.filter(task_id=task_id).values("pk", "ended_at"):
                reason = EndReason.STALE if row["ended_at"] is None else ""
                assert _refused(
                    lambda row=row, reason=reason: Assignment.objects.filter(pk=row["pk"]).update(
                        end_reason=reason
                    )
                )
            raise _Rollback
    except _Rollback:
        pass


def count_rows() -> dict:
    """A fingerprint of the engine's tables, to show that a call wrote nothing."""
    return {
        "tasks": list(Task.objects.order_by("id").values_list("id", "status", "assigned_to_id")),
        "assignments": list(
            Assignment.objects.order_by("id").values_list(
                "id", "task_id", "person_id", "ended_at", "end_reason", "completed_at"
            )
        ),
        "people": list(
            Person.objects.order_by("id").values_list(
                "id", "is_logged_in", "is_busy", "last_heartbeat", "idle_since", "logged_in_at"
            )
        ),
        "open": Assignment.objects.open().count(),
    }


def assert_counters_match() -> None:
    """The metrics' running totals (qc_counters) agree with the assignment rows, and the
    counts by the hour add up to the running totals."""
    from tasks import counters
    from tasks.counters import since, totals
    from tasks.models import Counter

    have = totals()
    by_hour = since(Counter.ALL_TIME + timedelta(hours=1))
    assert {k: v for k, v in by_hour.items() if v} == {k: v for k, v in have.items() if v}
    by_source = dict(Assignment.objects.values_list("source").annotate(n=Count("id")).order_by())
    for source in AssignmentSource.values:
        assert have.get(counters.assignments(source), 0) == by_source.get(source, 0), source
    ended = dict(
        Assignment.objects.exclude(end_reason="")
        .values_list("end_reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    assert have.get(counters.COMPLETIONS, 0) == ended.get(EndReason.COMPLETED, 0)
    for reason in EndReason.values:
        if reason != EndReason.COMPLETED:
            assert have.get(counters.releases(reason), 0) == ended.get(reason, 0), reason
    # Outcomes: each review's verdict and defect codes, each task's end (or dispute), and
    # the tasks sampled for an audit review.
    done = Assignment.objects.filter(end_reason=EndReason.COMPLETED)
    verdicts = dict(
        done.exclude(outcome="").values_list("outcome").annotate(n=Count("id")).order_by()
    )
    logged: dict[str, int] = defaultdict(int)
    for codes in done.filter(defects__isnull=False).values_list("defects", flat=True):
        for code in codes or ():
            logged[code] += 1
    for name, n in have.items():
        if name.startswith("defects:"):
            assert n == logged.get(name.removeprefix("defects:"), 0), name
    for code, n in logged.items():
        assert have.get(counters.defects(code), 0) == n, code
    ends = dict(
        Task.objects.filter(status=TaskStatus.COMPLETED)
        .values_list("outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for outcome in ("pass", "fail"):
        assert have.get(counters.reviews(outcome), 0) == verdicts.get(outcome, 0), outcome
    for outcome in ("pass", "fail", ""):
        assert have.get(counters.outcomes(outcome), 0) == ends.get(outcome, 0), outcome or "none"
    disputed = Task.objects.filter(status=TaskStatus.DISPUTED).count() + (
        Task.objects.exclude(resolution_note="").count()
    )
    assert have.get(counters.DISPUTES, 0) == disputed
    assert have.get(counters.SAMPLED, 0) == Task.objects.filter(sampled=True).count()

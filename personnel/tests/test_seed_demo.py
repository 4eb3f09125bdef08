"""The demo data: a defect catalogue, a history of reviews (verdicts, disputes waiting, one
resolved) and a queue with tasks needing two reviews, made once, consistently with the
engine's invariants."""

from io import StringIO

import pytest
from django.core.management import call_command

from personnel.management.commands.seed_demo import DEFECT_CODES, HISTORY, RESOLVED, TASKS
from personnel.models import Person
from tasks.models import (
    Assignment,
    AuditAction,
    AuditEvent,
    DefectCode,
    EndReason,
    Exclusion,
    Task,
    TaskStatus,
)
from tasks.tests.invariants import assert_counters_match

pytestmark = pytest.mark.django_db


def seed():
    call_command("seed_demo", "--force", stdout=StringIO())


def test_seed_demo_makes_a_catalogue_with_one_inactive_code():
    seed()
    codes = dict(DefectCode.objects.values_list("code", "active"))
    assert codes == {code: active for code, _, active in DEFECT_CODES}
    assert len(codes) == 6 and list(codes.values()).count(False) == 1


def test_seed_demo_history_has_verdicts_disputes_and_a_resolved_one():
    seed()
    history = Task.objects.filter(description__in=[d for d, _ in HISTORY])
    assert history.count() == len(HISTORY)
    # Every review has its verdict, on a completed assignment; defects of the catalogue.
    reviews = Assignment.objects.filter(task__in=history)
    assert reviews.count() == sum(len(r) for _, r in HISTORY)
    assert set(reviews.values_list("end_reason", flat=True)) == {EndReason.COMPLETED}
    assert set(reviews.values_list("outcome", flat=True)) == {"pass", "fail"}
    logged = {code for a in reviews.exclude(defects=None) for code in a.defects}
    assert logged and logged <= set(DefectCode.objects.values_list("code", flat=True))
    assert reviews.filter(outcome="fail").exclude(defects=None).exists()
    assert reviews.exclude(notes="").exists()
    # Two disputes wait: two reviews each, by different people, a pass and a fail.
    disputed = history.filter(status=TaskStatus.DISPUTED)
    assert disputed.count() == 2
    for task in disputed:
        given = task.assignments.filter(end_reason=EndReason.COMPLETED)
        assert sorted(given.values_list("outcome", flat=True)) == ["fail", "pass"]
        assert given.values("person").distinct().count() == 2
        assert task.reviews_done == task.reviews_required == 2 and task.outcome == ""
    # One was resolved by the supervisor, with the audit trail.
    description, outcome, note = RESOLVED
    resolved = history.get(description=description)
    assert resolved.status == TaskStatus.COMPLETED
    assert (resolved.outcome, resolved.resolution_note) == (outcome, note)
    assert AuditEvent.objects.filter(action=AuditAction.RESOLVE, task_id=resolved.pk).exists()
    # The rest completed with the verdict their reviews agree on.
    for task in history.filter(status=TaskStatus.COMPLETED).exclude(pk=resolved.pk):
        assert {a.outcome for a in task.assignments.all()} == {task.outcome}
        assert task.reviews_done == task.reviews_required
    # Each two-review task's second review was by someone else (the exclusion was written).
    assert Exclusion.objects.filter(task__in=history).count() == sum(len(r) - 1 for _, r in HISTORY)


def test_seed_demo_queue_waits_with_some_tasks_needing_two_reviews():
    seed()
    queue = Task.objects.pending()
    assert queue.count() == len(TASKS)
    assert queue.filter(reviews_required=2).count() == sum(1 for *_, r in TASKS if r == 2) >= 2
    # Nobody is at work when the demo starts: the crew signs them in.
    assert not Person.objects.filter(is_logged_in=True).exists()
    assert not Task.objects.filter(status=TaskStatus.IN_PROGRESS).exists()
    assert not Assignment.objects.open().exists()
    assert_counters_match()


def test_seed_demo_twice_adds_nothing():
    seed()

    def fingerprint():
        return (
            list(Task.objects.order_by("id").values_list("id", "status", "outcome")),
            Assignment.objects.count(),
            Exclusion.objects.count(),
            list(DefectCode.objects.values_list("code", "active")),
        )

    first = fingerprint()
    seed()
    assert fingerprint() == first

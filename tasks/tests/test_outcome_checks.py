"""The reliability suite's SQL checks of reviews (chaos/checks.py, I4): silent on what the
engine writes for tasks with several reviews, disputes and their resolution; loud on each
violation written by hand."""

import pytest
from django.db import connection
from django.db.models.functions import Now

from chaos import checks
from tasks import interventions
from tasks.models import Assignment, AssignmentSource, EndReason, Task, TaskStatus
from tasks.services import NewTask, task_complete, task_create
from tasks.sessions import person_login

pytestmark = [pytest.mark.django_db, pytest.mark.mysql]


def _violations():
    return checks.final_checks(connection.connection)


def _review(person, task, outcome=""):
    answer = person_login(person_id=person.pk)
    assert answer.current_task.pk == task.pk
    task_complete(task_id=task.pk, person_id=person.pk, outcome=outcome)


@pytest.fixture
def reviewed(make_person, supervisor, settings):
    """What the engine writes for reviews: a task completed by two agreeing reviews, one
    disputed and resolved, one disputed, one waiting for its second review and held by
    someone else, one cancelled between its reviews."""
    settings.QC_REVIEW_SAMPLE_RATE = 0.0
    a, b, c = make_person("A"), make_person("B"), make_person("C")
    tasks = {}
    for name in ("agreed", "resolved", "disputed", "waiting", "cancelled"):
        (tasks[name],) = task_create(tasks=[NewTask(name, reviews_required=2)])
        _review(a, tasks[name], "pass")
        if name == "waiting":
            assert person_login(person_id=c.pk).current_task.pk == tasks[name].pk
        elif name == "cancelled":
            interventions.task_cancel(actor=supervisor, task_id=tasks[name].pk)
        else:
            _review(b, tasks[name], "pass" if name == "agreed" else "fail")
    interventions.task_resolve(
        actor=supervisor, task_id=tasks["resolved"].pk, outcome="fail", note="seen"
    )
    return {"a": a, "b": b, "c": c, **tasks}


def test_the_checks_pass_on_what_the_engine_writes(reviewed):
    statuses = {n: Task.objects.get(pk=reviewed[n].pk).status for n in ("agreed", "disputed")}
    assert statuses == {"agreed": TaskStatus.COMPLETED, "disputed": TaskStatus.DISPUTED}
    assert _violations() == []


def test_a_person_reviewing_a_task_twice_is_found(reviewed):
    # B's review becomes A's: two completions by A, one different reviewer of two.
    Assignment.objects.filter(task=reviewed["agreed"], person=reviewed["b"]).update(
        person=reviewed["a"]
    )
    Task.objects.filter(pk=reviewed["agreed"].pk).update(assigned_to=reviewed["a"])
    found = _violations()
    assert any("reviewed) the same task twice" in v for v in found), found
    assert any("fewer different reviewers" in v for v in found), found


def test_a_task_completed_with_too_few_reviews_is_found(reviewed):
    # The database refuses COMPLETED with reviews_done < reviews_required; a DISPUTED one
    # it lets through.
    Assignment.objects.filter(task=reviewed["disputed"], person=reviewed["b"]).update(
        end_reason=EndReason.CANCELLED, completed_at=None, outcome=""
    )
    Task.objects.filter(pk=reviewed["disputed"].pk).update(reviews_done=1)
    found = _violations()
    assert any("fewer different reviewers" in v for v in found), found


def test_completions_that_differ_from_reviews_done_are_found(reviewed):
    Task.objects.filter(pk=reviewed["agreed"].pk).update(reviews_done=3)
    assert any("differ from its reviews_done" in v for v in _violations())


def test_a_task_given_automatically_to_its_reviewer_is_found(reviewed):
    Assignment.objects.create(
        task=reviewed["cancelled"],
        person=reviewed["a"],
        source=AssignmentSource.ASSIGNER,
        ended_at=Now(),
        end_reason=EndReason.CANCELLED,
    )
    found = _violations()
    assert any("automatic path to a person after their review" in v for v in found), found


def test_a_supervisor_giving_a_task_to_its_reviewer_is_found(reviewed):
    Assignment.objects.create(
        task=reviewed["cancelled"],
        person=reviewed["a"],
        source=AssignmentSource.SUPERVISOR,
        ended_at=Now(),
        end_reason=EndReason.CANCELLED,
    )
    found = _violations()
    assert any("even by a supervisor" in v for v in found), found
    assert not any("automatic path" in v for v in found), found


def test_an_open_task_with_all_its_reviews_is_found(reviewed):
    Task.objects.filter(pk=reviewed["waiting"].pk).update(reviews_required=1)
    assert any("open task with all the reviews" in v for v in _violations())


def test_a_review_without_its_exclusion_is_found(reviewed):
    reviewed["a"].exclusions.filter(task=reviewed["waiting"]).delete()
    assert any("review of a task awaiting more reviews" in v for v in _violations())


def test_a_disputed_task_with_an_outcome_is_found(reviewed):
    Task.objects.filter(pk=reviewed["disputed"].pk).update(outcome="pass")
    assert any("DISPUTED task with an outcome" in v for v in _violations())

"""The reliability suite's SQL checks of the routing rules (chaos/checks.py, I6): silent on
what the engine writes, loud on each violation written by hand."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now

from chaos import checks
from personnel.models import Person
from qcproject.db import db_now
from tasks import interventions
from tasks.assigner import assignment_cycle
from tasks.models import Assignment, AssignmentSource, EndReason, Exclusion, Task, TaskStatus
from tasks.services import NewTask, task_create, task_decline
from tasks.sessions import person_login

pytestmark = [pytest.mark.django_db, pytest.mark.mysql]


def _violations(**kwargs):
    return checks.final_checks(connection.connection, **kwargs)


@pytest.fixture
def routed(make_person, supervisor):
    """What the engine writes on the routing paths: skills, a decline then a supervisor's
    reassignment of the task to the decliner, a time-out, an expiry."""
    welder, other = make_person(), make_person()
    Person.objects.filter(pk=welder.pk).update(skills=["welding"])
    weld, anyone = task_create(
        tasks=[NewTask("weld", skill="welding", priority=5), NewTask("any", max_handle_seconds=1)]
    )
    person_login(person_id=welder.pk)
    person_login(person_id=other.pk)
    task_decline(task_id=weld.pk, person_id=welder.pk, reason="not mine")
    interventions.task_reassign(actor=supervisor, task_id=weld.pk, person_id=welder.pk)
    (gone,) = task_create(tasks=[NewTask("gone", expires_at=db_now() + timedelta(hours=1))])
    Task.objects.filter(pk=gone.pk).update(expires_at=Now() - timedelta(seconds=1))
    Task.objects.filter(pk=anyone.pk).update(created_at=Now() - timedelta(seconds=10))
    Assignment.objects.filter(open_task=anyone.pk).update(assigned_at=Now() - timedelta(seconds=5))
    assignment_cycle()
    return {"welder": welder, "other": other, "weld": weld, "anyone": anyone, "gone": gone}


def test_the_checks_pass_on_what_the_engine_writes(routed):
    assert Task.objects.get(pk=routed["gone"].pk).status == TaskStatus.EXPIRED
    assert Assignment.objects.filter(end_reason=EndReason.TIMED_OUT).exists()
    assert _violations() == []


def test_a_task_held_without_its_skill_is_found_unless_relaxed(routed):
    Person.objects.filter(pk=routed["welder"].pk).update(skills=[])
    assert any("without its skill" in v for v in _violations())
    Task.objects.filter(pk=routed["weld"].pk).update(created_at=Now() - timedelta(hours=1))
    assert not any("without its skill" in v for v in _violations(relax=60))


def test_a_declined_task_given_again_automatically_is_found(routed):
    Assignment.objects.filter(open_task=routed["weld"].pk).update(source=AssignmentSource.ASSIGNER)
    assert any("declined it" in v for v in _violations())


def test_a_decline_without_its_exclusion_is_found(routed):
    Exclusion.objects.all().delete()
    assert any("without its exclusion" in v for v in _violations())


def test_a_task_given_after_its_expiry_is_found(routed):
    Task.objects.filter(pk=routed["weld"].pk).update(expires_at=Now() - timedelta(hours=1))
    assert any("after its expiry" in v for v in _violations())


def test_a_task_expired_too_early_is_found(routed):
    Task.objects.filter(pk=routed["gone"].pk).update(expires_at=Now() + timedelta(hours=1))
    assert any("had not expired" in v for v in _violations())

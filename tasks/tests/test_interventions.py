"""Supervisor interventions: sign out, release, reassign, cancel — service and API."""

from datetime import timedelta

import pytest
from django.db.models.functions import Now

from personnel.models import Person
from qcproject.exceptions import Conflict, NotFound
from tasks.assigner import assignment_cycle
from tasks.interventions import task_cancel, task_reassign, task_release
from tasks.models import Assignment, AssignmentSource, AuditAction, AuditEvent, EndReason, Task
from tasks.models import TaskStatus as S
from tasks.services import task_complete, task_create
from tasks.sessions import person_login, person_sign_out
from tasks.tests.invariants import assert_invariants

pytestmark = pytest.mark.django_db


def audit():
    return list(AuditEvent.objects.order_by("id").values_list("action", "actor_username"))


# --- release ---


def test_release_puts_task_back_first_in_queue_and_holder_moves_on(supervisor, alice):
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=alice.pk)
    result = task_release(actor=supervisor, task_id=first.pk)
    assert result.task.status == S.PENDING and result.task.assigned_to_id is None
    assert result.task.created_at == first.created_at
    assert Task.objects.get(pk=second.pk).assigned_to_id == alice.pk  # moved on, not back
    assert first.assignments.get().end_reason == EndReason.RELEASED
    assert audit() == [(AuditAction.RELEASE, "boss")]
    assert AuditEvent.objects.get().person_id == alice.pk
    assert_invariants(expected_tasks=2)


def test_released_task_goes_to_the_next_free_person(supervisor, alice, bob):
    (task,) = task_create(descriptions=["only"])
    person_login(person_id=alice.pk)
    task_release(actor=supervisor, task_id=task.pk)
    person_login(person_id=bob.pk)
    assert Task.objects.get(pk=task.pk).assigned_to_id == bob.pk


def test_release_of_pending_task_is_conflict(supervisor):
    (task,) = task_create(descriptions=["only"])
    with pytest.raises(Conflict):
        task_release(actor=supervisor, task_id=task.pk)
    assert not AuditEvent.objects.exists()


def test_holders_late_complete_after_release_is_conflict(supervisor, alice):
    (task,) = task_create(descriptions=["only"])
    person_login(person_id=alice.pk)
    task_release(actor=supervisor, task_id=task.pk)
    with pytest.raises(Conflict):
        task_complete(task_id=task.pk, person_id=alice.pk)


# --- reassign ---


def test_reassign_moves_task_to_a_free_person(supervisor, alice, bob):
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=alice.pk)  # alice: first
    task_complete(task_id=first.pk, person_id=alice.pk)  # alice: second
    task_create(descriptions=["third"])
    person_login(person_id=bob.pk)  # bob: third
    third = Task.objects.get(description="third")
    task_complete(task_id=third.pk, person_id=bob.pk)  # bob: free
    result = task_reassign(actor=supervisor, task_id=second.pk, person_id=bob.pk)
    assert result.task.assigned_to_id == bob.pk and result.task.status == S.IN_PROGRESS
    assert result.previous_holder_id == alice.pk
    ends = dict(second.assignments.values_list("person_id", "end_reason"))
    assert ends == {alice.pk: EndReason.REASSIGNED, bob.pk: ""}
    assert second.assignments.get(person=bob).source == AssignmentSource.SUPERVISOR
    assert not Person.objects.get(pk=alice.pk).is_busy
    event = AuditEvent.objects.get()
    assert (event.action, event.person_id, event.task_id) == (
        AuditAction.REASSIGN,
        bob.pk,
        second.pk,
    )
    assert "Alice" in event.detail and "Bob" in event.detail
    assert_invariants(expected_tasks=3)


def test_reassign_a_pending_task(supervisor, alice):
    person_login(person_id=alice.pk)
    (task,) = task_create(descriptions=["x"])  # offered at once only after commit
    Task.objects.filter(pk=task.pk).update(status=S.PENDING, assigned_to=None)
    Assignment.objects.all().delete()
    Person.objects.filter(pk=alice.pk).update(is_busy=False)
    result = task_reassign(actor=supervisor, task_id=task.pk, person_id=alice.pk)
    assert result.task.assigned_to_id == alice.pk and result.previous_holder_id is None


def test_reassign_to_a_busy_person_is_conflict(supervisor, alice, bob):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    person_login(person_id=bob.pk)
    with pytest.raises(Conflict) as excinfo:
        task_reassign(actor=supervisor, task_id=a.pk, person_id=bob.pk)
    assert excinfo.value.code == "person_busy"
    assert Task.objects.get(pk=a.pk).assigned_to_id == alice.pk


def test_reassign_to_a_signed_out_or_stale_person_is_conflict(supervisor, alice, bob, settings):
    (task,) = task_create(descriptions=["a"])
    with pytest.raises(Conflict):
        task_reassign(actor=supervisor, task_id=task.pk, person_id=bob.pk)
    settings.QC_HEARTBEAT_TIMEOUT = 1
    person_login(person_id=alice.pk)
    task_complete(task_id=task.pk, person_id=alice.pk)
    (other,) = task_create(descriptions=["b"])
    Person.objects.filter(pk=alice.pk).update(last_heartbeat=Now() - timedelta(seconds=5))
    with pytest.raises(Conflict) as excinfo:
        task_reassign(actor=supervisor, task_id=other.pk, person_id=alice.pk)
    assert excinfo.value.code == "person_not_signed_in"


def test_reassign_to_current_holder_is_conflict(supervisor, alice):
    (task,) = task_create(descriptions=["a"])
    person_login(person_id=alice.pk)
    with pytest.raises(Conflict):
        task_reassign(actor=supervisor, task_id=task.pk, person_id=alice.pk)


def test_reassign_completed_or_cancelled_task_is_conflict(supervisor, alice, bob):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    task_complete(task_id=a.pk, person_id=alice.pk)
    task_cancel(actor=supervisor, task_id=b.pk)
    person_login(person_id=bob.pk)
    for task in (a, b):
        with pytest.raises(Conflict):
            task_reassign(actor=supervisor, task_id=task.pk, person_id=bob.pk)


def test_reassign_to_unknown_person_or_task_is_not_found(supervisor, alice):
    (task,) = task_create(descriptions=["a"])
    with pytest.raises(NotFound):
        task_reassign(actor=supervisor, task_id=task.pk, person_id=987654)
    with pytest.raises(NotFound):
        task_reassign(actor=supervisor, task_id=987654, person_id=alice.pk)


# --- cancel ---


def test_cancel_pending_task_is_never_assigned(supervisor, alice):
    (task,) = task_create(descriptions=["a"])
    task_cancel(actor=supervisor, task_id=task.pk)
    person_login(person_id=alice.pk)
    assignment_cycle()
    task.refresh_from_db()
    assert task.status == S.CANCELLED and task.assigned_to_id is None
    assert not Assignment.objects.exists()
    assert not Task.objects.open().exists()
    assert audit() == [(AuditAction.CANCEL, "boss")]


def test_cancel_in_progress_task_frees_holder_with_next_task(supervisor, alice):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    result = task_cancel(actor=supervisor, task_id=a.pk)
    assert result.task.status == S.CANCELLED and result.previous_holder_id == alice.pk
    assert a.assignments.get().end_reason == EndReason.CANCELLED
    assert Task.objects.get(pk=b.pk).assigned_to_id == alice.pk
    with pytest.raises(Conflict):
        task_complete(task_id=a.pk, person_id=alice.pk)
    assert_invariants(expected_tasks=2)


def test_cancel_twice_or_completed_is_conflict(supervisor, alice):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    task_complete(task_id=a.pk, person_id=alice.pk)
    task_cancel(actor=supervisor, task_id=b.pk)
    for task in (a, b):
        with pytest.raises(Conflict):
            task_cancel(actor=supervisor, task_id=task.pk)
    assert AuditEvent.objects.count() == 1


# --- sign out ---


def test_sign_out_releases_task_with_reason_and_audit(supervisor, alice):
    (task,) = task_create(descriptions=["a"])
    person_login(person_id=alice.pk)
    assert person_sign_out(actor=supervisor, person_id=alice.pk) == [task.pk]
    person = Person.objects.get(pk=alice.pk)
    assert not person.is_logged_in and person.signed_out_reason == EndReason.SIGNED_OUT
    assert Task.objects.get(pk=task.pk).status == S.PENDING
    assert task.assignments.get().end_reason == EndReason.SIGNED_OUT
    event = AuditEvent.objects.get()
    assert (event.action, event.person_id, event.task_id) == (
        AuditAction.SIGN_OUT,
        alice.pk,
        task.pk,
    )


def test_sign_out_of_signed_out_person_is_conflict(supervisor, alice):
    with pytest.raises(Conflict):
        person_sign_out(actor=supervisor, person_id=alice.pk)
    with pytest.raises(NotFound):
        person_sign_out(actor=supervisor, person_id=987654)


# --- API ---


def test_api_interventions_for_supervisor(api, supervisor, alice, bob):
    a, b, c = task_create(descriptions=["a", "b", "c"])
    person_login(person_id=alice.pk)  # a
    person_login(person_id=bob.pk)  # b
    api.force_authenticate(supervisor)
    r = api.post(f"/tasks/{a.pk}/release")
    assert r.status_code == 200 and r.data["status"] == S.PENDING  # alice moves on to c
    r = api.post(f"/tasks/{c.pk}/cancel/")
    assert r.status_code == 200 and r.data["status"] == S.CANCELLED  # alice takes a again
    assert Task.objects.get(pk=a.pk).assigned_to_id == alice.pk
    r = api.post(f"/personnel/{bob.pk}/sign-out")
    assert r.status_code == 200 and r.data["is_logged_in"] is False
    r = api.post(f"/tasks/{a.pk}/reassign", {"person_id": bob.pk}, format="json")
    assert r.status_code == 409 and r.data["code"] == "person_not_signed_in"
    r = api.post(f"/tasks/{a.pk}/reassign", {"person_id": "x"}, format="json")
    assert r.status_code == 400 and "person_id" in r.data
    r = api.post(f"/tasks/{c.pk}/cancel")
    assert r.status_code == 409
    r = api.get(f"/tasks/{a.pk}")
    assert r.status_code == 200 and r.data["assigned_to_id"] == alice.pk
    assert api.post("/tasks/987654/release").status_code == 404
    assert [e[0] for e in audit()] == [
        AuditAction.RELEASE,
        AuditAction.CANCEL,
        AuditAction.SIGN_OUT,
    ]


def test_api_interventions_refused_to_non_supervisors(api, alice, bob, django_user_model):
    (a,) = task_create(descriptions=["a"])
    person_login(person_id=alice.pk)
    plain_staff = django_user_model.objects.create_user(username="staff", is_staff=True)
    for user in (alice.user, bob.user, plain_staff):
        api.force_authenticate(user)
        assert api.post(f"/tasks/{a.pk}/release").status_code == 403
        assert api.post(f"/tasks/{a.pk}/cancel").status_code == 403
        r = api.post(f"/tasks/{a.pk}/reassign", {"person_id": bob.pk}, format="json")
        assert r.status_code == 403
        assert api.post(f"/personnel/{alice.pk}/sign-out").status_code == 403
    assert Task.objects.get(pk=a.pk).status == S.IN_PROGRESS
    assert not AuditEvent.objects.exists()


def test_cancelled_tasks_are_left_out_of_the_queue(api, supervisor):
    a, b = task_create(descriptions=["a", "b"])
    task_cancel(actor=supervisor, task_id=a.pk)
    api.force_authenticate(supervisor)
    r = api.get("/tasks/queue")
    assert [t["id"] for t in r.data["results"]] == [b.pk]

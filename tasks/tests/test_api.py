import pytest
from django.db import OperationalError

from tasks.models import Task, TaskStatus
from tasks.services import task_create
from tasks.sessions import person_login, person_logout

pytestmark = pytest.mark.django_db


def test_supervisor_creates_one_task(api, supervisor):
    api.force_authenticate(supervisor)
    r = api.post("/tasks", {"description": "  Check batch 7  "}, format="json")
    assert r.status_code == 201
    assert set(r.data) == {
        "id",
        "description",
        "status",
        "created_at",
        "assigned_to_id",
        "priority",
        "skill",
        "max_handle_seconds",
        "expires_at",
        "reviews_required",
        "reviews_done",
        "outcome",
    }
    assert r.data["description"] == "Check batch 7"
    assert r.data["status"] == TaskStatus.PENDING and r.data["assigned_to_id"] is None
    assert r.data["created_at"]


def test_supervisor_creates_a_list_of_tasks(api, supervisor):
    api.force_authenticate(supervisor)
    r = api.post("/tasks/", [{"description": f"t{i}"} for i in range(5)], format="json")
    assert r.status_code == 201
    assert [t["description"] for t in r.data] == [f"t{i}" for i in range(5)]
    assert Task.objects.count() == 5


def test_a_list_with_one_bad_item_creates_nothing(api, supervisor):
    api.force_authenticate(supervisor)
    r = api.post("/tasks", [{"description": "ok"}, {"description": ""}], format="json")
    assert r.status_code == 400
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"description": ""}, {"description": None}, {"description": 5 * "x" * 2001}, [], "x", 7],
)
def test_malformed_task_bodies_are_400(api, supervisor, body):
    api.force_authenticate(supervisor)
    r = api.post("/tasks", body, format="json")
    assert r.status_code == 400, r.data
    assert Task.objects.count() == 0


def test_too_many_tasks_at_once_is_400(api, supervisor, settings):
    settings.QC_MAX_BULK_TASKS = 3
    api.force_authenticate(supervisor)
    r = api.post("/tasks", [{"description": "x"}] * 4, format="json")
    assert r.status_code == 400
    assert Task.objects.count() == 0


def test_qc_person_cannot_create_tasks(api, alice):
    api.force_authenticate(alice.user)
    assert api.post("/tasks", {"description": "x"}, format="json").status_code == 403


def test_complete_returns_next_task_in_same_response(api, alice):
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=alice.pk)
    api.force_authenticate(alice.user)
    r = api.post(f"/tasks/{first.pk}/complete")
    assert r.status_code == 200, r.data
    assert r.data["id"] == first.pk and r.data["status"] == TaskStatus.COMPLETED
    assert r.data["next_task"]["id"] == second.pk
    assert r.data["next_task"]["status"] == TaskStatus.IN_PROGRESS
    assert r.data["next_task"]["assigned_to_id"] == alice.pk


def test_complete_with_empty_queue_returns_null_next_task(api, alice):
    (only,) = task_create(descriptions=["only"])
    person_login(person_id=alice.pk)
    api.force_authenticate(alice.user)
    r = api.post(f"/tasks/{only.pk}/complete/")
    assert r.status_code == 200 and r.data["next_task"] is None


def test_repeated_complete_is_200_and_changes_nothing(api, alice):
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=alice.pk)
    api.force_authenticate(alice.user)
    r1 = api.post(f"/tasks/{first.pk}/complete")
    r2 = api.post(f"/tasks/{first.pk}/complete")
    assert r2.status_code == 200
    assert r2.data == r1.data
    assert Task.objects.get(pk=second.pk).status == TaskStatus.IN_PROGRESS
    assert first.assignments.count() == 1


def test_complete_of_someone_elses_task_is_forbidden(api, alice, bob):
    (task,) = task_create(descriptions=["only"])
    person_login(person_id=alice.pk)
    api.force_authenticate(bob.user)
    r = api.post(f"/tasks/{task.pk}/complete")
    assert r.status_code == 403
    assert Task.objects.get(pk=task.pk).status == TaskStatus.IN_PROGRESS


def test_late_complete_after_release_is_409(api, alice):
    (task,) = task_create(descriptions=["only"])
    person_login(person_id=alice.pk)
    person_logout(person_id=alice.pk)
    api.force_authenticate(alice.user)
    r = api.post(f"/tasks/{task.pk}/complete")
    assert r.status_code == 409
    assert r.data["code"] == "task_not_in_progress"
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING


def test_late_complete_after_reassignment_is_409(api, alice, bob):
    (task,) = task_create(descriptions=["only"])
    person_login(person_id=alice.pk)
    person_logout(person_id=alice.pk)
    person_login(person_id=bob.pk)
    api.force_authenticate(alice.user)
    assert api.post(f"/tasks/{task.pk}/complete").status_code == 409
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS and task.assigned_to_id == bob.pk


def test_supervisor_completes_for_the_assignee(api, supervisor, alice):
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=alice.pk)
    api.force_authenticate(supervisor)
    r = api.post(f"/tasks/{first.pk}/complete")
    assert r.status_code == 200
    assert r.data["next_task"]["assigned_to_id"] == alice.pk


def test_complete_of_pending_task_is_409(api, supervisor):
    (task,) = task_create(descriptions=["only"])
    api.force_authenticate(supervisor)
    assert api.post(f"/tasks/{task.pk}/complete").status_code == 409


def test_complete_unknown_task_is_404(api, alice):
    api.force_authenticate(alice.user)
    assert api.post("/tasks/999999/complete").status_code == 404
    assert api.post("/tasks/99999999999999999999999/complete").status_code == 404


def test_complete_anonymous_is_401(api):
    assert api.post("/tasks/1/complete").status_code == 401


def test_queue_is_open_tasks_oldest_first_paginated(api, supervisor, alice):
    tasks = task_create(descriptions=[f"t{i}" for i in range(4)])
    person_login(person_id=alice.pk)  # takes t0
    api.force_authenticate(alice.user)
    api.post(f"/tasks/{tasks[0].pk}/complete")  # t0 done, t1 in progress
    api.force_authenticate(supervisor)
    r = api.get("/tasks/queue", {"page_size": 2})
    assert r.status_code == 200
    assert r.data["count"] == 3
    assert [t["id"] for t in r.data["results"]] == [tasks[1].pk, tasks[2].pk]
    assert r.data["results"][0]["status"] == TaskStatus.IN_PROGRESS
    r2 = api.get(r.data["next"])
    assert [t["id"] for t in r2.data["results"]] == [tasks[3].pk]


def test_queue_is_for_supervisors_only(api, alice):
    api.force_authenticate(alice.user)
    assert api.get("/tasks/queue").status_code == 403


def test_released_task_keeps_its_place_in_queue(api, supervisor, alice):
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=alice.pk)
    person_logout(person_id=alice.pk)
    api.force_authenticate(supervisor)
    r = api.get("/tasks/queue")
    assert [t["id"] for t in r.data["results"]] == [first.pk, second.pk]


def test_database_outage_is_503_not_500(api, supervisor, monkeypatch):
    def down(**kwargs):
        raise OperationalError(2006, "MySQL server has gone away")

    monkeypatch.setattr("tasks.services.task_create", down)
    api.force_authenticate(supervisor)
    r = api.post("/tasks", {"description": "x"}, format="json")
    assert r.status_code == 503
    assert r["Retry-After"]

"""Routing through the interfaces: the API (and its OpenAPI schema), the admin, the import,
the dashboard and /metrics."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models.functions import Now

from personnel.models import Person
from qcproject.db import db_now
from tasks.assigner import assignment_cycle
from tasks.models import (
    Assignment,
    AuditAction,
    AuditEvent,
    EndReason,
    Exclusion,
    Task,
    TaskStatus,
)
from tasks.services import NewTask, task_create, task_decline
from tasks.sessions import person_login
from tasks.tests.invariants import assert_invariants

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


def future(hours=1) -> str:
    return (db_now() + timedelta(hours=hours)).isoformat()


# --- POST /tasks ---


def test_create_a_task_with_its_routing(api, supervisor):
    api.force_authenticate(supervisor)
    expires = future()
    r = api.post(
        "/tasks",
        {
            "description": "weld",
            "priority": 7,
            "skill": " Welding ",
            "max_handle_seconds": 900,
            "expires_at": expires,
        },
        format="json",
    )
    assert r.status_code == 201, r.data
    assert (r.data["priority"], r.data["skill"], r.data["max_handle_seconds"]) == (
        7,
        "welding",
        900,
    )
    assert r.data["expires_at"] is not None
    task = Task.objects.get()
    assert (task.priority, task.skill, task.max_handle_seconds) == (7, "welding", 900)


def test_routing_fields_default_to_anyone_priority_zero(api, supervisor):
    api.force_authenticate(supervisor)
    r = api.post(
        "/tasks", [{"description": "a"}, {"description": "b", "skill": None}], format="json"
    )
    assert r.status_code == 201
    for item in r.data:
        assert (
            item["priority"],
            item["skill"],
            item["max_handle_seconds"],
            item["expires_at"],
        ) == (
            0,
            None,
            None,
            None,
        )


@pytest.mark.parametrize(
    "field, value",
    [
        ("priority", 10),
        ("priority", -1),
        ("priority", "5"),
        ("priority", 2.5),
        ("priority", True),
        ("priority", None),
        ("skill", "two words"),
        ("skill", "x" * 33),
        ("skill", 7),
        ("max_handle_seconds", -5),
        ("max_handle_seconds", "60"),
        ("max_handle_seconds", 10**9),
        ("expires_at", "2001-01-01T00:00:00Z"),
        ("expires_at", "tomorrow"),
        ("expires_at", 5),
    ],
)
def test_bad_routing_values_are_400_with_the_field_and_nothing_written(
    api, supervisor, field, value
):
    api.force_authenticate(supervisor)
    r = api.post(
        "/tasks", [{"description": "ok"}, {"description": "bad", field: value}], format="json"
    )
    assert r.status_code == 400, r.data
    assert field in json.dumps(r.data)
    assert not Task.objects.exists()


# --- PATCH /tasks/{id} ---


def test_supervisor_patches_a_pending_tasks_priority(api, supervisor):
    (task,) = task_create(descriptions=["x"])
    api.force_authenticate(supervisor)

    r = api.patch(f"/tasks/{task.pk}", {"priority": 4}, format="json")

    assert r.status_code == 200 and r.data["priority"] == 4
    assert AuditEvent.objects.get().action == AuditAction.TASK_EDIT
    r = api.patch(f"/tasks/{task.pk}", {"skill": "painting", "expires_at": future()}, format="json")
    assert r.status_code == 200 and r.data["skill"] == "painting"


@pytest.mark.parametrize(
    "body", [{}, {"priority": 10}, {"priority": "4"}, {"status": "COMPLETED"}, {"description": "x"}]
)
def test_bad_patches_are_400(api, supervisor, body):
    (task,) = task_create(descriptions=["x"])
    api.force_authenticate(supervisor)
    r = api.patch(f"/tasks/{task.pk}", body, format="json")
    assert r.status_code == 400, r.data
    assert Task.objects.get(pk=task.pk).priority == 0


def test_patch_of_a_task_in_progress_is_409_and_unknown_is_404(api, supervisor, alice):
    (task,) = task_create(descriptions=["x"])
    person_login(person_id=alice.pk)
    api.force_authenticate(supervisor)
    r = api.patch(f"/tasks/{task.pk}", {"priority": 4}, format="json")
    assert r.status_code == 409 and r.data["code"] == "task_not_pending"
    assert api.patch("/tasks/987654321", {"priority": 4}, format="json").status_code == 404


# --- POST /tasks/{id}/decline ---


def test_holder_declines_and_gets_the_next_task(api, alice):
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=alice.pk)
    api.force_authenticate(alice.user)

    r = api.post(f"/tasks/{first.pk}/decline", {"reason": "wrong line"}, format="json")

    assert r.status_code == 200, r.data
    assert r.data["id"] == first.pk and r.data["status"] == TaskStatus.PENDING
    assert r.data["next_task"]["id"] == second.pk
    again = api.post(f"/tasks/{first.pk}/decline", {"reason": "wrong line"}, format="json")
    assert again.status_code == 200 and again.data["next_task"]["id"] == second.pk
    assert Assignment.objects.filter(end_reason=EndReason.DECLINED).count() == 1


@pytest.mark.parametrize(
    "body", [{}, {"reason": ""}, {"reason": "  "}, {"reason": 5}, {"reason": "x" * 501}]
)
def test_a_decline_without_a_good_reason_is_400(api, alice, body):
    (task,) = task_create(descriptions=["x"])
    person_login(person_id=alice.pk)
    api.force_authenticate(alice.user)
    r = api.post(f"/tasks/{task.pk}/decline", body, format="json")
    assert r.status_code == 400, r.data
    assert Task.objects.get(pk=task.pk).status == TaskStatus.IN_PROGRESS


def test_decline_by_someone_else_is_403_and_a_supervisor_may(api, alice, bob, supervisor):
    (task,) = task_create(descriptions=["x"])
    person_login(person_id=alice.pk)
    api.force_authenticate(bob.user)
    assert api.post(f"/tasks/{task.pk}/decline", {"reason": "no"}, format="json").status_code == 403
    api.force_authenticate(supervisor)
    r = api.post(f"/tasks/{task.pk}/decline", {"reason": "not hers"}, format="json")
    assert r.status_code == 200 and r.data["next_task"] is None
    assert Exclusion.objects.get().person_id == alice.pk
    assert AuditEvent.objects.get().action == AuditAction.DECLINE
    r = api.post(f"/tasks/{task.pk}/decline", {"reason": "x"}, format="json")
    assert r.status_code == 409  # nobody holds it now


# --- PATCH /personnel/{id}, the person's representation ---


def test_supervisor_sets_skills_and_they_show_on_the_person(api, supervisor, alice):
    api.force_authenticate(supervisor)
    r = api.patch(f"/personnel/{alice.pk}", {"skills": ["Welding", "x-ray"]}, format="json")
    assert r.status_code == 200, r.data
    assert r.data["skills"] == ["welding", "x-ray"] and r.data["last_release"] is None
    assert Person.objects.get(pk=alice.pk).skills == ["welding", "x-ray"]
    for bad in (
        {"skills": "welding"},
        {"skills": ["no spaces"]},
        {"skills": [""]},
        {},
        {"name": "x"},
    ):
        assert api.patch(f"/personnel/{alice.pk}", bad, format="json").status_code == 400, bad
    assert api.patch("/personnel/987654321", {"skills": []}, format="json").status_code == 404
    api.force_authenticate(alice.user)
    assert api.patch(f"/personnel/{alice.pk}", {"skills": []}, format="json").status_code == 403


def test_the_person_says_which_task_was_taken_back_and_why(api, alice, settings):
    (task,) = task_create(tasks=[NewTask("slow", max_handle_seconds=60)])
    person_login(person_id=alice.pk)
    Assignment.objects.filter(open_task=task.pk).update(assigned_at=Now() - timedelta(seconds=61))
    assignment_cycle()
    api.force_authenticate(alice.user)

    r = api.post(f"/personnel/{alice.pk}/heartbeat")

    assert r.status_code == 200
    assert r.data["last_release"]["task_id"] == task.pk
    assert r.data["last_release"]["reason"] == EndReason.TIMED_OUT
    assert r.data["last_release"]["at"]


def test_the_schema_documents_the_routing(client):
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    for name in ("TaskCreateRequest", "Task"):
        for field in ("priority", "skill", "max_handle_seconds", "expires_at"):
            assert field in components[name]["properties"], (name, field)
    assert {"skills", "last_release"} <= set(components["Person"]["properties"])
    assert "patch" in schema["paths"]["/tasks/{id}"]
    assert "patch" in schema["paths"]["/personnel/{id}"]
    assert "post" in schema["paths"]["/tasks/{id}/decline"]


# --- the import ---


def _import(client, name, content):
    upload = SimpleUploadedFile(name, content)
    preview = client.post("/admin/tasks/task/import/", {"file": upload})
    assert preview.status_code == 200
    return preview


def test_import_reads_the_routing_columns_and_keys(admin_client):
    csv = (
        "description,priority,skill,max_handle_seconds,expires_at\n"
        f"weld,7,Welding,600,{future()}\n"
        "anyone,,,,\n"
    ).encode()
    preview = _import(admin_client, "t.csv", csv)
    assert not preview.context["errors"], preview.context["errors"]
    admin_client.post(
        "/admin/tasks/task/import/", {"token": preview.context["token"], "confirm": "1"}
    )
    weld, anyone = Task.objects.order_by("id")
    assert (weld.priority, weld.skill, weld.max_handle_seconds) == (7, "welding", 600)
    assert weld.expires_at is not None
    assert (anyone.priority, anyone.skill, anyone.expires_at) == (0, None, None)

    data = json.dumps([{"description": "json", "priority": 3, "skill": "x-ray"}]).encode()
    preview = _import(admin_client, "t.json", data)
    admin_client.post(
        "/admin/tasks/task/import/", {"token": preview.context["token"], "confirm": "1"}
    )
    assert Task.objects.get(description="json").priority == 3


def test_import_shows_bad_routing_values_by_line_and_imports_nothing(admin_client):
    csv = (
        b"description,priority,skill,max_handle_seconds,expires_at\n"
        b"a,10,,,\n"
        b"b,high,,,\n"
        b"c,,bad skill,,\n"
        b"d,,,-1,\n"
        b"e,,,,2001-01-01T00:00:00Z\n"
        b"f,,,,someday\n"
        b"g,1,ok,5,\n"
    )
    preview = _import(admin_client, "bad.csv", csv)
    errors = dict(preview.context["errors"])
    assert set(errors) == {2, 3, 4, 5, 6, 7}
    assert "future" in " ".join(errors[6])
    assert "token" not in preview.context
    assert not Task.objects.exists()


# --- the admin ---


def test_admin_adds_tasks_with_routing(admin_client):
    r = admin_client.post(
        "/admin/tasks/task/add/",
        {"descriptions": "a\nb", "priority": "6", "skill": "Welding", "_save": "Save"},
    )
    assert r.status_code == 302
    assert set(Task.objects.values_list("priority", "skill")) == {(6, "welding")}
    r = admin_client.post(
        "/admin/tasks/task/add/", {"descriptions": "c", "priority": "11", "_save": "Save"}
    )
    assert r.status_code == 200 and b"errorlist" in r.content


def test_admin_changes_a_pending_task_and_shows_the_in_progress_one_read_only(admin_client, alice):
    held, waiting = task_create(descriptions=["held", "waiting"])
    person_login(person_id=alice.pk)
    page = admin_client.get(f"/admin/tasks/task/{waiting.pk}/change/")
    assert b'name="priority"' in page.content
    r = admin_client.post(
        f"/admin/tasks/task/{waiting.pk}/change/",
        {
            "description": "waiting",
            "priority": "5",
            "skill": "",
            "max_handle_seconds": "",
            "expires_at_0": "",
            "expires_at_1": "",
            "_save": "Save",
        },
    )
    assert r.status_code == 302, r.content[:2000]
    assert Task.objects.get(pk=waiting.pk).priority == 5
    assert AuditEvent.objects.get().detail == "priority: 0 → 5"
    page = admin_client.get(f"/admin/tasks/task/{held.pk}/change/")
    assert b'name="priority"' not in page.content
    listing = admin_client.get("/admin/tasks/task/", {"priority__exact": "5", "skill": "-"})
    assert listing.status_code == 200 and b"waiting" in listing.content


def test_admin_sets_a_persons_skills(admin_client, alice):
    r = admin_client.post(
        f"/admin/personnel/person/{alice.pk}/change/",
        {"name": "Alice", "skills": "welding, X-ray", "_save": "Save"},
    )
    assert r.status_code == 302
    assert Person.objects.get(pk=alice.pk).skills == ["welding", "x-ray"]
    assert AuditEvent.objects.get().action == AuditAction.SKILLS
    r = admin_client.post(
        f"/admin/personnel/person/{alice.pk}/change/",
        {"name": "Alice", "skills": "bad skill", "_save": "Save"},
    )
    assert r.status_code == 200 and b"errorlist" in r.content


def test_admin_filters_expired_tasks(admin_client):
    (task,) = task_create(tasks=[NewTask("gone", expires_at=db_now() + timedelta(hours=1))])
    Task.objects.filter(pk=task.pk).update(expires_at=Now() - timedelta(seconds=1))
    assignment_cycle()
    r = admin_client.get("/admin/tasks/task/", {"status__exact": TaskStatus.EXPIRED})
    assert r.status_code == 200 and b"gone" in r.content


# --- the dashboard and /metrics ---


def test_dashboard_warns_of_unstaffed_skills_and_tasks_everyone_declined(admin_client, alice, bob):
    Person.objects.filter(pk=alice.pk).update(skills=["welding"])
    person_login(person_id=bob.pk)
    (declined,) = task_create(tasks=[NewTask("not for bob")])
    assignment_cycle()
    task_decline(task_id=declined.pk, person_id=bob.pk, reason="wrong line")
    task_create(tasks=[NewTask("weld", skill="welding", priority=3)])

    r = admin_client.get("/admin/tasks/task/dashboard/")

    routing = r.context["d"].routing
    assert routing.unstaffed == ["welding"]
    assert [t.task_id for t in routing.declined_by_everyone] == [declined.pk]
    assert routing.by_priority[3] == 1 and routing.by_priority[0] == 1
    text = r.content.decode()
    assert "nobody signed in has it" in text and f"#{declined.pk}" in text
    assert "Declined by the person" in text  # the flow's releases by reason
    assert_invariants()


def test_metrics_carry_the_routing_figures(client, settings, alice):
    settings.QC_METRICS_TOKEN = "s3cret"
    task_create(tasks=[NewTask("weld", skill="welding", priority=2), NewTask("any")])
    (gone,) = task_create(tasks=[NewTask("gone", expires_at=db_now() + timedelta(hours=1))])
    Task.objects.filter(pk=gone.pk).update(expires_at=Now() - timedelta(seconds=1))
    assignment_cycle()

    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()

    for line in [
        'qc_queue_pending_by_priority{priority="2"} 1.0',
        'qc_queue_pending_by_priority{priority="0"} 1.0',
        'qc_queue_pending_by_skill{skill="welding"} 1.0',
        'qc_queue_pending_by_skill{skill=""} 1.0',
        'qc_skill_unstaffed{skill="welding"} 1.0',
        "qc_tasks_declined_by_everyone 0.0",
        "qc_tasks_expired_total 1.0",
        'qc_releases_total{reason="DECLINED"} 0.0',
        'qc_releases_total{reason="TIMED_OUT"} 0.0',
    ]:
        assert line in text, line
    assert 'qc_queue_oldest_pending_age_by_skill_seconds{skill="welding"}' in text

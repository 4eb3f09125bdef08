from datetime import timedelta

import pytest
from django.db.models.functions import Now

from personnel.models import Person
from tasks.models import EndReason, Task, TaskStatus
from tasks.services import task_create

pytestmark = pytest.mark.django_db


def test_supervisor_creates_person_with_login(api, supervisor):
    api.force_authenticate(supervisor)
    r = api.post(
        "/personnel",
        {"name": "Carol", "username": "carol", "password": "correct-horse-battery"},
        format="json",
    )
    assert r.status_code == 201, r.data
    assert set(r.data) == {
        "id",
        "name",
        "is_logged_in",
        "is_busy",
        "last_heartbeat",
        "current_task",
        "skills",
        "last_release",
    }
    person = Person.objects.get(pk=r.data["id"])
    assert person.user.username == "carol" and not person.user.is_staff
    assert person.user.check_password("correct-horse-battery")
    assert "password" not in r.data


def test_create_person_reports_every_bad_field(api, supervisor, alice):
    api.force_authenticate(supervisor)
    r = api.post(
        "/personnel",
        {"name": "Carol", "username": alice.user.username, "password": "1"},
        format="json",
    )
    assert r.status_code == 400
    assert {"username", "password"} == set(r.data)
    assert Person.objects.count() == 1


def test_create_person_missing_fields_is_400(api, supervisor):
    api.force_authenticate(supervisor)
    r = api.post("/personnel", {}, format="json")
    assert r.status_code == 400
    assert {"name", "username", "password"} == set(r.data)


def test_create_person_by_qc_person_is_forbidden(api, alice):
    api.force_authenticate(alice.user)
    r = api.post("/personnel", {"name": "X", "username": "x", "password": "pw-pw-pw-pw-1"})
    assert r.status_code == 403


def test_anonymous_gets_401_with_token_challenge(api, alice):
    r = api.get(f"/personnel/{alice.pk}")
    assert r.status_code == 401
    assert r["WWW-Authenticate"] == "Token"


def test_person_reads_self_but_not_others(api, alice, bob):
    api.force_authenticate(alice.user)
    assert api.get(f"/personnel/{alice.pk}").status_code == 200
    assert api.get(f"/personnel/{alice.pk}/").status_code == 200
    assert api.get(f"/personnel/{bob.pk}").status_code == 403
    assert api.get("/personnel/999999").status_code == 404


def test_unknown_and_overflowing_ids_are_404(api, supervisor):
    api.force_authenticate(supervisor)
    assert api.get("/personnel/999999").status_code == 404
    assert api.get("/personnel/99999999999999999999999999").status_code == 404
    assert api.post("/personnel/99999999999999999999999999/heartbeat").status_code == 404


def test_login_without_body_signs_in_self_and_assigns_oldest_task(api, alice):
    first, _ = task_create(descriptions=["first", "second"])
    api.force_authenticate(alice.user)
    r = api.post("/personnel/login", {}, format="json")
    assert r.status_code == 200, r.data
    assert r.data["is_logged_in"] and r.data["is_busy"]
    assert r.data["current_task"]["id"] == first.pk
    assert r.data["current_task"]["status"] == TaskStatus.IN_PROGRESS
    assert r.data["current_task"]["assigned_to_id"] == alice.pk
    assert r.data["last_heartbeat"] is not None


def test_login_with_empty_queue_leaves_person_free(api, alice):
    api.force_authenticate(alice.user)
    r = api.post("/personnel/login/", {"person_id": alice.pk}, format="json")
    assert r.status_code == 200
    assert r.data["is_logged_in"] and not r.data["is_busy"] and r.data["current_task"] is None


def test_login_for_someone_else_is_forbidden(api, alice, bob):
    api.force_authenticate(alice.user)
    r = api.post("/personnel/login", {"person_id": bob.pk}, format="json")
    assert r.status_code == 403
    assert not Person.objects.get(pk=bob.pk).is_logged_in


def test_supervisor_signs_in_a_person(api, supervisor, alice):
    api.force_authenticate(supervisor)
    r = api.post("/personnel/login", {"person_id": alice.pk}, format="json")
    assert r.status_code == 200 and r.data["is_logged_in"]


def test_supervisor_login_needs_person_id(api, supervisor):
    api.force_authenticate(supervisor)
    r = api.post("/personnel/login", {}, format="json")
    assert r.status_code == 400 and "person_id" in r.data


@pytest.mark.parametrize("bad", ["abc", -1, 0, 10**30, None, [1], {"a": 1}])
def test_login_with_malformed_person_id_is_400(api, supervisor, bad):
    api.force_authenticate(supervisor)
    r = api.post("/personnel/login", {"person_id": bad}, format="json")
    assert r.status_code == 400
    assert "person_id" in r.data


def test_login_for_unknown_person_is_404(api, supervisor):
    api.force_authenticate(supervisor)
    assert api.post("/personnel/login", {"person_id": 424242}, format="json").status_code == 404


def test_login_with_non_object_body_is_400(api, alice):
    api.force_authenticate(alice.user)
    r = api.post("/personnel/login", [1, 2], format="json")
    assert r.status_code == 400


def test_logout_puts_task_back_in_queue(api, alice):
    (task,) = task_create(descriptions=["only"])
    api.force_authenticate(alice.user)
    api.post("/personnel/login", {}, format="json")
    r = api.post(f"/personnel/{alice.pk}/logout")
    assert r.status_code == 200
    assert not r.data["is_logged_in"] and not r.data["is_busy"] and r.data["current_task"] is None
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING and task.assigned_to_id is None
    assert task.assignments.get().end_reason == EndReason.LOGOUT


def test_logout_of_someone_else_is_forbidden(api, alice, bob):
    api.force_authenticate(bob.user)
    assert api.post(f"/personnel/{alice.pk}/logout").status_code == 403


def test_heartbeat_returns_person_with_current_task(api, alice):
    (task,) = task_create(descriptions=["only"])
    api.force_authenticate(alice.user)
    api.post("/personnel/login", {}, format="json")
    r = api.post(f"/personnel/{alice.pk}/heartbeat")
    assert r.status_code == 200
    assert r.data["current_task"]["id"] == task.pk


def test_heartbeat_without_session_is_409(api, alice):
    api.force_authenticate(alice.user)
    r = api.post(f"/personnel/{alice.pk}/heartbeat")
    assert r.status_code == 409
    assert r.data["code"] == "no_session"


def test_heartbeat_after_expiry_is_409_and_task_is_back_in_queue(api, alice, short_timeout):
    (task,) = task_create(descriptions=["only"])
    api.force_authenticate(alice.user)
    api.post("/personnel/login", {}, format="json")
    Person.objects.filter(pk=alice.pk).update(last_heartbeat=Now() - timedelta(seconds=5))
    r = api.post(f"/personnel/{alice.pk}/heartbeat")
    assert r.status_code == 409
    assert r.data["code"] == "session_expired"
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING
    assert not Person.objects.get(pk=alice.pk).is_logged_in


def test_heartbeat_for_someone_else_is_forbidden(api, alice, bob):
    api.force_authenticate(bob.user)
    assert api.post(f"/personnel/{alice.pk}/heartbeat").status_code == 403


def test_status_lists_signed_in_personnel_with_tasks(api, supervisor, alice, bob):
    (task,) = task_create(descriptions=["only"])
    api.force_authenticate(alice.user)
    api.post("/personnel/login", {}, format="json")
    api.force_authenticate(supervisor)
    r = api.get("/personnel/status")
    assert r.status_code == 200
    assert [p["id"] for p in r.data] == [alice.pk]
    assert r.data[0]["current_task"]["id"] == task.pk


def test_status_is_for_supervisors_only(api, alice):
    api.force_authenticate(alice.user)
    assert api.get("/personnel/status").status_code == 403


def test_user_without_person_cannot_act(api, django_user_model, alice):
    stranger = django_user_model.objects.create_user(username="stranger", password="x")
    api.force_authenticate(stranger)
    assert api.post("/personnel/login", {}, format="json").status_code == 403
    assert api.get(f"/personnel/{alice.pk}").status_code == 403


def test_token_login_flow(api, alice):
    r = api.post(
        "/auth/token",
        {"username": alice.user.username, "password": "correct-horse-battery"},
        format="json",
    )
    assert r.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {r.data['token']}")
    assert api.post("/personnel/login", {}, format="json").status_code == 200


def test_token_with_wrong_password_is_400(api, alice):
    r = api.post("/auth/token", {"username": alice.user.username, "password": "no"}, format="json")
    assert r.status_code == 400


def test_bad_token_is_401(api, alice):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api.get(f"/personnel/{alice.pk}").status_code == 401


def test_supervisor_lists_personnel_paginated(api, supervisor, alice, bob):
    api.force_authenticate(supervisor)
    r = api.get("/personnel", {"page_size": 1})
    assert r.status_code == 200
    assert r.data["count"] == 2 and len(r.data["results"]) == 1


def test_person_json_current_task_never_shows_another_persons_task(api, alice, bob):
    task_create(descriptions=["a", "b"])
    for p in (alice, bob):
        api.force_authenticate(p.user)
        api.post("/personnel/login", {}, format="json")
    api.force_authenticate(alice.user)
    r = api.get(f"/personnel/{alice.pk}")
    assert r.data["current_task"]["assigned_to_id"] == alice.pk
    assert Task.objects.get(pk=r.data["current_task"]["id"]).assigned_to_id == alice.pk

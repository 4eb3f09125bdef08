"""`GET /tasks/queue/size`: the queue's size, for QC personnel and supervisors."""

import pytest
from django.contrib.auth import get_user_model

from tasks.models import Task, TaskStatus
from tasks.services import task_complete, task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db


def test_counts_pending_tasks_only(api, make_person):
    person = make_person()
    first, *_ = task_create(descriptions=["a", "b", "c", "d"])
    person_login(person_id=person.pk)  # takes "a"
    task_complete(task_id=first.pk, person_id=person.pk)  # completes "a", takes "b"
    assert Task.objects.filter(status=TaskStatus.PENDING).count() == 2
    api.force_authenticate(person.user)
    r = api.get("/tasks/queue/size")
    assert r.status_code == 200 and r.json() == {"pending": 2}


def test_empty_queue_is_zero(api, supervisor):
    api.force_authenticate(supervisor)
    assert api.get("/tasks/queue/size/").json() == {"pending": 0}


def test_anonymous_is_unauthorized(api):
    assert api.get("/tasks/queue/size").status_code == 401


def test_user_who_is_neither_person_nor_supervisor_is_forbidden(api):
    user = get_user_model().objects.create_user(username="visitor")
    api.force_authenticate(user)
    assert api.get("/tasks/queue/size").status_code == 403


def test_is_read_only(api, make_person):
    api.force_authenticate(make_person().user)
    assert api.post("/tasks/queue/size", {}, format="json").status_code == 405


def test_is_documented(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert "/tasks/queue/size" in r.json()["paths"]

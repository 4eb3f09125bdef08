"""The REST API takes JSON bodies only; form and multipart bodies are for the admin and the
portal's own pages. Anything else gets 415 with a JSON message saying what to send, and
nothing is written."""

import json

import pytest
from django.test import Client

from personnel.models import Person
from tasks.models import Task
from tasks.services import task_create
from tasks.sessions import person_login
from tasks.tests.invariants import count_rows

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
TEXT = "text/plain"


@pytest.fixture
def world(make_person, supervisor):
    me, free = make_person("Me"), make_person("Free")
    (task,) = task_create(descriptions=["mine"])
    person_login(person_id=me.pk)
    person_login(person_id=free.pk)
    return {"me": me, "free": free, "task": task, "supervisor": supervisor}


def body_endpoints(world):
    """Each API endpoint that takes a body, with a body it would accept as JSON."""
    return [
        ("/auth/token", {"username": "boss", "password": "correct-horse-battery"}),
        ("/personnel", {"name": "Carol", "username": "carol", "password": "pw-pw-pw-pw-1"}),
        ("/personnel/login", {"person_id": world["me"].pk}),
        ("/tasks", {"description": "Inspect lot 42"}),
        (f"/tasks/{world['task'].pk}/reassign", {"person_id": world["free"].pk}),
    ]


@pytest.mark.parametrize("form", ["urlencoded", "multipart", "text"])
def test_non_json_bodies_get_415_with_a_json_message_and_change_nothing(api, world, form):
    api.force_authenticate(world["supervisor"])
    before = count_rows()
    for path, data in body_endpoints(world):
        if form == "multipart":
            response = api.post(path, data, format="multipart")
        else:
            raw = "&".join(f"{key}={value}" for key, value in data.items())
            response = api.generic("POST", path, raw, FORM if form == "urlencoded" else TEXT)
        assert response.status_code == 415, (path, response.content)
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert body["code"] == "unsupported_media_type"
        assert body["detail"].endswith("send application/json bodies."), body
    assert count_rows() == before
    assert not Person.objects.filter(name="Carol").exists()


def test_the_same_bodies_as_json_are_accepted(api, world):
    api.force_authenticate(world["supervisor"])
    for path, data in body_endpoints(world):
        response = api.generic("POST", path, json.dumps(data), "application/json")
        assert response.status_code in (200, 201), (path, response.content)


def test_json_with_a_charset_is_json(api, world):
    api.force_authenticate(world["supervisor"])
    response = api.generic(
        "POST", "/tasks", b'{"description": "x"}', "application/json; charset=utf-8"
    )
    assert response.status_code == 201


def test_a_body_without_a_content_type_gets_415(api, world):
    api.force_authenticate(world["supervisor"])
    response = api.generic("POST", "/tasks", b'{"description": "x"}', content_type="")
    assert response.status_code == 415
    assert response.json()["detail"] == "No Content-Type: send application/json bodies."
    assert not Task.objects.filter(description="x").exists()


def test_requests_without_a_body_need_no_content_type(api, world):
    """The portal's script sends its POSTs with no body and no Content-Type."""
    api.force_authenticate(world["me"].user)
    assert api.generic("POST", f"/personnel/{world['me'].pk}/heartbeat", b"", "").status_code == 200
    assert api.generic("POST", "/personnel/login", b"", "").status_code == 200


def test_token_view_reads_no_session_so_a_form_post_gets_415_not_a_csrf_failure(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    response = client.post("/auth/token", {"username": "x", "password": "y"})
    assert response.status_code == 415


def test_browsable_api_offers_a_json_form(api, supervisor):
    api.force_authenticate(supervisor)
    page = api.get("/personnel", HTTP_ACCEPT="text/html").content.decode()
    assert '<option value="application/json" selected>application/json</option>' in page
    assert FORM not in page and "multipart/form-data" not in page


def test_admin_and_portal_forms_still_post_forms(admin_client, make_person):
    response = admin_client.post(
        "/admin/tasks/task/add/", {"descriptions": "From the admin", "_save": "Save"}
    )
    assert response.status_code == 302
    assert Task.objects.filter(description="From the admin").exists()
    make_person("Ada", username="ada")
    response = Client().post(
        "/accounts/login/", {"username": "ada", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302

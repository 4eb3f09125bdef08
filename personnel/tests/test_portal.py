"""The QC portal's page, sign-in and sign-out, through Django's test client.

What the page does in a browser is in `test_portal_browser.py`.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders

from personnel.models import Person
from tasks.models import TaskStatus
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db


def portal_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="portal-config" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


@pytest.mark.parametrize("path", ["/", "/portal/", "/portal"])
def test_anonymous_visitor_is_sent_to_the_sign_in_page(client, path):
    r = client.get(path)
    assert r.status_code == 302
    assert r["Location"] == f"/accounts/login/?next={path}"


def test_sign_in_page_has_labelled_fields(client):
    r = client.get("/accounts/login/?next=/")
    assert r.status_code == 200
    html = r.content.decode()
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'autocomplete="current-password"' in html


def test_signing_in_leads_to_the_portal(client, make_person):
    make_person("Ada", username="ada")
    r = client.post("/accounts/login/", {"username": "ada", "password": "correct-horse-battery"})
    assert r.status_code == 302 and r["Location"] == "/"


def test_wrong_password_shows_an_error(client, make_person):
    make_person("Ada", username="ada")
    r = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
    assert r.status_code == 200
    assert b'role="alert"' in r.content and b'aria-invalid="true"' in r.content


def test_person_gets_the_work_page_with_their_own_id(client, make_person):
    person = make_person("Ada Lovelace")
    client.force_login(person.user)
    r = client.get("/")
    assert r.status_code == 200
    assert r["Cache-Control"].startswith("max-age=0")
    config = portal_config(r)
    assert config["person"]["id"] == person.pk
    assert config["person"]["is_logged_in"] is False
    assert config["urls"]["heartbeat"] == f"/personnel/{person.pk}/heartbeat"
    assert config["urls"]["logout"] == f"/personnel/{person.pk}/logout"
    assert config["urls"]["complete"] == "/tasks/{id}/complete"
    assert config["urls"]["queueSize"] == "/tasks/queue/size"
    html = r.content.decode()
    assert "Ada Lovelace" in html
    assert 'name="csrf-token"' in html
    assert "portal/portal.js" in html
    assert "/admin/" not in html


def test_portal_path_serves_the_same_page(client, make_person):
    person = make_person()
    client.force_login(person.user)
    assert portal_config(client.get("/portal/"))["person"]["id"] == person.pk


def test_page_carries_the_current_task_and_when_it_was_assigned(client, make_person):
    person = make_person()
    (task,) = task_create(descriptions=["Check the seams"])
    person_login(person_id=person.pk)
    client.force_login(person.user)
    config = portal_config(client.get("/"))
    assert config["person"]["current_task"]["id"] == task.pk
    assert config["person"]["current_task"]["description"] == "Check the seams"
    assert config["assignedAt"] and config["serverNow"]


def test_page_never_shows_another_persons_task(client, make_person):
    me, other = make_person(), make_person()
    (theirs,) = task_create(descriptions=["their secret task"])
    person_login(person_id=other.pk)
    person_login(person_id=me.pk)
    client.force_login(me.user)
    r = client.get("/")
    assert portal_config(r)["person"]["current_task"] is None
    assert b"their secret task" not in r.content
    assert f"/tasks/{theirs.pk}/".encode() not in r.content


def test_task_description_cannot_break_out_of_the_page_data(client, make_person):
    person = make_person()
    task_create(descriptions=["</script><script>alert(1)</script>"])
    person_login(person_id=person.pk)
    client.force_login(person.user)
    r = client.get("/")
    assert b"<script>alert(1)" not in r.content
    assert portal_config(r)["person"]["current_task"]["description"].startswith("</script>")


def test_supervisor_is_pointed_to_the_admin(client, supervisor):
    client.force_login(supervisor)
    r = client.get("/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'href="/admin/"' in html
    assert "portal-config" not in html and "portal.js" not in html


def test_user_who_is_neither_gets_a_clear_message(client):
    user = get_user_model().objects.create_user(username="visitor", password="x-y-z-1-2-3")
    client.force_login(user)
    r = client.get("/")
    assert r.status_code == 403
    assert b"neither QC personnel nor a" in r.content
    assert b"portal-config" not in r.content


def test_sign_out_ends_the_work_session_and_releases_the_task(client, make_person):
    person = make_person()
    (task,) = task_create(descriptions=["x"])
    person_login(person_id=person.pk)
    client.force_login(person.user)
    r = client.post("/accounts/logout/")
    assert r.status_code == 302 and r["Location"] == "/accounts/login/"
    task.refresh_from_db()
    assert task.status == TaskStatus.PENDING and task.assigned_to_id is None
    assert Person.objects.get(pk=person.pk).is_logged_in is False
    r = client.get(r["Location"])
    assert f"Task #{task.pk} went back to the queue".encode() in r.content
    assert client.get("/").status_code == 302  # signed out of Django too


def test_supervisor_can_sign_out(client, supervisor):
    client.force_login(supervisor)
    r = client.post("/accounts/logout/")
    assert r.status_code == 302
    assert client.get("/").status_code == 302


def test_sign_out_needs_a_post(client, make_person):
    client.force_login(make_person().user)
    assert client.get("/accounts/logout/").status_code == 405


def test_sign_out_form_carries_the_csrf_token(make_person):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(make_person().user)
    html = csrf_client.get("/").content.decode()
    assert 'action="/accounts/logout/"' in html and "csrfmiddlewaretoken" in html
    assert csrf_client.post("/accounts/logout/").status_code == 403  # without the token


def test_portal_static_files_are_found():
    assert finders.find("portal/portal.js")
    assert finders.find("portal/portal.css")


def test_page_script_writes_task_data_as_text_only():
    with open(finders.find("portal/portal.js"), encoding="utf-8") as f:
        script = f.read()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "localStorage" not in script and "sessionStorage" not in script

"""The QC portal's page, sign-in and sign-out, through Django's test client.

What the page does in a browser is in `test_portal_browser.py`.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders

from personnel.models import Person
from tasks.models import NOTES_MAX_LENGTH, DefectCode, Task, TaskStatus
from tasks.services import NewTask, task_complete, task_create
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


def test_page_carries_the_active_defect_codes_and_where_to_read_them_again(client, make_person):
    DefectCode.objects.create(code="SCRATCH", description="Scratch on a visible surface")
    DefectCode.objects.create(code="DENT", description="Dent in a panel")
    DefectCode.objects.create(code="OLD", description="Retired", active=False)
    person = make_person()
    client.force_login(person.user)
    config = portal_config(client.get("/"))
    assert config["defectCodes"] == [
        {"code": "DENT", "description": "Dent in a panel"},
        {"code": "SCRATCH", "description": "Scratch on a visible surface"},
    ]
    assert config["urls"]["defectCodes"] == "/defect-codes"
    assert client.get(config["urls"]["defectCodes"]).json() == config["defectCodes"]


def test_without_a_required_verdict_the_page_has_complete_and_an_optional_verdict(
    client, make_person, settings
):
    settings.QC_REQUIRE_OUTCOME = False
    person = make_person()
    client.force_login(person.user)
    r = client.get("/")
    assert portal_config(r)["requireOutcome"] is False
    html = r.content.decode()
    assert 'id="complete"' in html and 'id="pref-shortcut"' in html
    assert 'id="pass"' not in html and 'id="fail"' not in html
    assert "<legend>Verdict (optional)</legend>" in html
    assert 'type="radio" name="outcome" id="outcome-none" value="" checked' in html
    assert f'<textarea id="notes" rows="3" maxlength="{NOTES_MAX_LENGTH}"' in html
    assert "<legend>Defects found (optional)</legend>" in html


def test_with_a_required_verdict_the_page_has_pass_and_fail_instead_of_complete(
    client, make_person, settings
):
    settings.QC_REQUIRE_OUTCOME = True
    person = make_person()
    client.force_login(person.user)
    r = client.get("/")
    assert portal_config(r)["requireOutcome"] is True
    html = r.content.decode()
    assert 'id="pass"' in html and 'id="fail"' in html
    assert 'id="complete"' not in html and 'type="radio"' not in html
    assert 'id="pref-shortcut"' not in html and 'id="shortcut-hint"' not in html
    assert f'maxlength="{NOTES_MAX_LENGTH}"' in html


def test_page_never_shows_an_earlier_reviewers_verdict_or_notes(client, make_person):
    first, me = make_person(), make_person()
    (task,) = task_create(tasks=[NewTask("Check the seams", reviews_required=2)])
    person_login(person_id=first.pk)
    task_complete(task_id=task.pk, person_id=first.pk, outcome="fail", notes="Porosity at B3")
    person_login(person_id=me.pk)
    client.force_login(me.user)
    r = client.get("/")
    current = portal_config(r)["person"]["current_task"]
    assert current["id"] == task.pk
    assert (current["reviews_done"], current["reviews_required"]) == (1, 2)
    assert current["outcome"] is None
    assert b"Porosity" not in r.content


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


# --- languages ---


def test_pages_follow_the_browsers_language(client, make_person):
    r = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    html = r.content.decode()
    assert '<html lang="de">' in html
    assert '<label for="id_username">Benutzername</label>' in html
    assert r["Content-Language"] == "de"
    assert "Accept-Language" in r["Vary"]

    client.force_login(make_person("Ada").user)
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="es">' in html and "Empezar a trabajar" in html


def test_an_unknown_language_falls_back_to_english(client):
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="tlh").content.decode()
    assert '<html lang="en">' in html and "Sign in" in html


def test_chosen_language_is_remembered_by_the_browser_for_a_year(client, make_person):
    client.force_login(make_person().user)
    r = client.post("/i18n/setlang/", {"language": "de", "next": "/"})
    assert r.status_code == 302 and r["Location"] == "/"
    cookie = r.cookies["django_language"]
    assert cookie.value == "de" and int(cookie["max-age"]) == 365 * 24 * 60 * 60
    # It wins over the browser's own language, until another is chosen.
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="de">' in html and "Arbeit beginnen" in html
    assert 'value="de" lang="de" selected' in html


def test_language_chooser_refuses_other_sites_and_unknown_languages(client):
    r = client.post("/i18n/setlang/", {"language": "tlh", "next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == "/"
    assert "django_language" not in r.cookies


def test_page_loads_the_script_catalog_in_the_pages_language(client, make_person):
    client.force_login(make_person().user)
    assert 'src="/jsi18n/"' in client.get("/").content.decode()
    script = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Arbeit begonnen." in script and "Wartet (%(n)s in der Warteschlange)" in script
    # Only the project's own strings: no other app's catalog rides along.
    assert "Januar" not in script
    english = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Arbeit begonnen." not in english


def test_sign_out_message_is_translated(client, make_person):
    person = make_person()
    (task,) = task_create(descriptions=["x"])
    person_login(person_id=person.pk)
    client.force_login(person.user)
    client.cookies["django_language"] = "es"
    r = client.post("/accounts/logout/", follow=True)
    assert f"Ha cerrado la sesión. La tarea #{task.pk} volvió a la cola.".encode() in r.content


def test_token_requests_are_answered_in_the_default_language_without_vary(client, make_person):
    from personnel.services import token_issue

    person = make_person()
    key = token_issue(user=person.user).token
    r = client.post(
        f"/personnel/{person.pk}/heartbeat",
        HTTP_AUTHORIZATION=f"Token {key}",
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert r.status_code == 409
    assert r.json()["detail"] == "No work session is active. Start work again to get a task."
    assert "Accept-Language" not in r.get("Vary", "") and "Content-Language" not in r
    # A German request just before, in the same thread, does not leak its language.
    client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de")
    r = client.post("/tasks/1/complete", HTTP_AUTHORIZATION="Token wrong")
    assert r.json()["detail"] == "Invalid token."


# --- account ---


def test_portal_header_links_to_change_password(client, make_person):
    client.force_login(make_person().user)
    assert 'href="/accounts/password_change/"' in client.get("/").content.decode()


def test_change_password_needs_a_sign_in(client):
    r = client.get("/accounts/password_change/")
    assert r.status_code == 302
    assert r["Location"] == "/accounts/login/?next=/accounts/password_change/"


def test_change_password_keeps_the_person_signed_in_and_at_work(client, make_person):
    person = make_person("Ada", password="correct-horse-battery")
    (task,) = task_create(descriptions=["x"])
    person_login(person_id=person.pk)
    client.force_login(person.user)
    page = client.get("/accounts/password_change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'autocomplete="current-password"' in html and "portal/portal.css" in html
    assert "Ada" in html  # the portal's header

    wrong = client.post(
        "/accounts/password_change/",
        {"old_password": "nope", "new_password1": "a-fresh-passphrase", "new_password2": "x"},
    )
    assert wrong.status_code == 200 and b'aria-invalid="true"' in wrong.content

    r = client.post(
        "/accounts/password_change/",
        {
            "old_password": "correct-horse-battery",
            "new_password1": "a-fresh-passphrase",
            "new_password2": "a-fresh-passphrase",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/accounts/password_change/done/"
    assert b"Your password was changed" in client.get(r["Location"]).content
    person.user.refresh_from_db()
    assert person.user.check_password("a-fresh-passphrase")
    assert client.get("/").status_code == 200  # still signed in
    person.refresh_from_db()
    assert person.is_logged_in
    assert Task.objects.get(pk=task.pk).status == TaskStatus.IN_PROGRESS


def test_admins_own_change_password_page_keeps_the_admin_look(admin_client):
    html = admin_client.get("/admin/password_change/").content.decode()
    assert "portal/portal.css" not in html and 'id="content"' in html

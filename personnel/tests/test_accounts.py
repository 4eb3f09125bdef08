"""Supervisors manage QC personnel's logins: set a password, deactivate and reactivate a
login, in the admin and through the API, audited (issue 12, "supervisor login
management": the Supervisors group could do none of it)."""

import pytest
from django.contrib.auth.models import Permission

from personnel.models import Person
from tasks.models import AuditAction, AuditEvent, Task, TaskStatus
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
NEW = "a-new-horse-battery"


def can_sign_in(client, username, password) -> bool:
    r = client.post(
        "/auth/token", {"username": username, "password": password}, content_type="application/json"
    )
    return r.status_code == 200


# --- API --------------------------------------------------------------------------------------


def test_a_supervisor_sets_a_password_through_the_api(api, client, alice, supervisor):
    api.force_authenticate(supervisor)
    r = api.post(f"/personnel/{alice.pk}/set-password", {"password": NEW}, format="json")
    assert r.status_code == 200, r.data
    assert r.data == {
        "username": "person1",
        "is_active": True,
        "last_login": None,
        "tokens": [],
    }
    assert can_sign_in(client, "person1", NEW) and not can_sign_in(client, "person1", PASSWORD)
    event = AuditEvent.objects.get(action=AuditAction.SET_PASSWORD)
    assert (event.actor, event.person_id) == (supervisor, alice.pk)
    assert NEW not in event.detail


@pytest.mark.parametrize("body", [{"password": "1"}, {"password": "person1"}, {}, {"password": 5}])
def test_a_password_the_validators_refuse_changes_nothing(api, client, alice, supervisor, body):
    api.force_authenticate(supervisor)
    r = api.post(f"/personnel/{alice.pk}/set-password", body, format="json")
    assert r.status_code == 400
    assert "password" in r.data
    assert can_sign_in(client, "person1", PASSWORD)
    assert not AuditEvent.objects.exists()


def test_deactivation_ends_the_work_session_and_the_login(api, client, alice, supervisor):
    (task,) = task_create(descriptions=["in hand"])
    person_login(person_id=alice.pk)
    api.force_authenticate(supervisor)
    r = api.post(f"/personnel/{alice.pk}/deactivate")
    assert r.status_code == 200
    assert r.data["is_active"] is False
    alice.refresh_from_db()
    assert not alice.is_logged_in
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING
    assert not can_sign_in(client, "person1", PASSWORD)
    client.force_login(alice.user)  # a browser session of a deactivated login is dead
    assert client.get("/").status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.DEACTIVATE)
    assert (event.actor, event.person_id, event.task_id) == (supervisor, alice.pk, task.pk)


def test_reactivation_lets_the_person_sign_in_again(api, client, alice, supervisor):
    api.force_authenticate(supervisor)
    api.post(f"/personnel/{alice.pk}/deactivate")
    r = api.post(f"/personnel/{alice.pk}/reactivate")
    assert r.status_code == 200 and r.data["is_active"] is True
    assert can_sign_in(client, "person1", PASSWORD)
    assert AuditEvent.objects.filter(action=AuditAction.REACTIVATE, person=alice).count() == 1


def test_deactivating_twice_is_a_conflict(api, alice, supervisor):
    api.force_authenticate(supervisor)
    assert api.post(f"/personnel/{alice.pk}/deactivate").status_code == 200
    r = api.post(f"/personnel/{alice.pk}/deactivate")
    assert r.status_code == 409 and r.data["code"] == "login_inactive"
    r = api.post(f"/personnel/{alice.pk}/reactivate")
    assert r.status_code == 200
    r = api.post(f"/personnel/{alice.pk}/reactivate")
    assert r.status_code == 409 and r.data["code"] == "login_active"


def test_the_account_is_readable_by_a_supervisor(api, alice, supervisor):
    api.force_authenticate(supervisor)
    r = api.get(f"/personnel/{alice.pk}/account")
    assert r.status_code == 200
    assert r.data["username"] == "person1" and r.data["is_active"] is True


@pytest.mark.parametrize(
    "method, action",
    [
        ("get", "account"),
        ("post", "set-password"),
        ("post", "deactivate"),
        ("post", "reactivate"),
        ("get", "tokens"),
        ("delete", "tokens"),
    ],
)
def test_qc_personnel_manage_no_login_not_even_their_own(api, alice, bob, method, action):
    api.force_authenticate(alice.user)
    for person in (alice, bob):
        r = getattr(api, method)(
            f"/personnel/{person.pk}/{action}", {"password": NEW}, format="json"
        )
        assert r.status_code == 403


def test_a_supervisor_cannot_take_over_a_staff_login(api, client, supervisor, django_user_model):
    """A person linked to a staff user (a supervisor who also does QC work): only a superuser
    manages that login, or a supervisor could set another supervisor's password."""
    other = django_user_model.objects.create_user(
        username="other-boss", password=PASSWORD, is_staff=True
    )
    person = Person.objects.create(user=other, name="Other Boss")
    api.force_authenticate(supervisor)
    for action in ("set-password", "deactivate"):
        r = api.post(f"/personnel/{person.pk}/{action}", {"password": NEW}, format="json")
        assert r.status_code == 403, (action, r.data)
    assert can_sign_in(client, "other-boss", PASSWORD)

    supervisor.is_superuser = True
    supervisor.save()
    r = api.post(f"/personnel/{person.pk}/set-password", {"password": NEW}, format="json")
    assert r.status_code == 200


def test_staff_without_the_login_permission_is_refused(api, alice, supervisor):
    perm = Permission.objects.get(codename="manage_login")
    supervisor.groups.first().permissions.remove(perm)
    api.force_authenticate(supervisor)
    assert api.post(f"/personnel/{alice.pk}/deactivate").status_code == 403
    assert api.get(f"/personnel/{alice.pk}/account").status_code == 200  # reading is supervising


def test_unknown_person_is_not_found(api, supervisor):
    api.force_authenticate(supervisor)
    assert api.post("/personnel/999999/deactivate").status_code == 404
    assert (
        api.post("/personnel/999999/set-password", {"password": NEW}, format="json").status_code
        == 404
    )


# --- admin ------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


def test_the_person_page_shows_the_login_and_its_buttons(admin_client, alice):
    page = admin_client.get(f"/admin/personnel/person/{alice.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("person1", "Set password", "Deactivate login", "Revoke all API tokens"):
        assert text in html, text


def test_a_supervisor_sets_a_password_in_the_admin(admin_client, client, alice, supervisor):
    url = f"/admin/personnel/person/{alice.pk}/password/"
    assert admin_client.get(url).status_code == 200
    r = admin_client.post(url, {"new_password1": NEW, "new_password2": "different"})
    assert r.status_code == 200 and b"match" in r.content
    r = admin_client.post(url, {"new_password1": "1", "new_password2": "1"})
    assert r.status_code == 200 and b"too short" in r.content
    r = admin_client.post(url, {"new_password1": NEW, "new_password2": NEW})
    assert r.status_code == 302
    admin_client.logout()
    assert can_sign_in(client, "person1", NEW)
    assert AuditEvent.objects.filter(action=AuditAction.SET_PASSWORD, actor=supervisor).exists()


def test_a_supervisor_deactivates_and_reactivates_in_the_admin(admin_client, client, alice):
    r = admin_client.post(f"/admin/personnel/person/{alice.pk}/deactivate/")
    assert r.status_code == 302
    alice.user.refresh_from_db()
    assert not alice.user.is_active
    page = admin_client.get(f"/admin/personnel/person/{alice.pk}/change/")
    assert b"Reactivate login" in page.content
    r = admin_client.post(f"/admin/personnel/person/{alice.pk}/reactivate/")
    assert r.status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.is_active
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [AuditAction.DEACTIVATE, AuditAction.REACTIVATE]


def test_the_admin_login_buttons_refuse_get(admin_client, alice):
    for action in ("deactivate", "reactivate", "revoke-tokens"):
        r = admin_client.get(f"/admin/personnel/person/{alice.pk}/{action}/")
        assert r.status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.is_active


def test_the_people_list_filters_by_login_state(admin_client, alice, bob):
    bob.user.is_active = False
    bob.user.save()
    r = admin_client.get("/admin/personnel/person/?user__is_active__exact=0")
    assert b"Bob" in r.content and b"Alice" not in r.content


def test_a_deactivation_refused_in_the_admin_is_shown_not_raised(
    admin_client, supervisor, django_user_model
):
    other = django_user_model.objects.create_user(username="other-boss", is_staff=True)
    person = Person.objects.create(user=other, name="Other Boss")
    r = admin_client.post(f"/admin/personnel/person/{person.pk}/deactivate/", follow=True)
    assert r.status_code == 200
    assert b"superuser" in r.content
    other.refresh_from_db()
    assert other.is_active

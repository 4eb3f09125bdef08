import pytest

from personnel.models import Person
from tasks.models import Assignment, Task
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


def test_supervisor_adds_many_tasks_one_per_line(admin_client):
    r = admin_client.post(
        "/admin/tasks/task/add/",
        {"descriptions": "Inspect A\n\n  Inspect B  \nInspect C\n", "_save": "Save"},
    )
    assert r.status_code == 302
    assert list(Task.objects.order_by("id").values_list("description", flat=True)) == [
        "Inspect A",
        "Inspect B",
        "Inspect C",
    ]


def test_supervisor_adds_a_single_task(admin_client):
    r = admin_client.post("/admin/tasks/task/add/", {"descriptions": "Only one", "_save": "Save"})
    assert r.status_code == 302
    assert Task.objects.get().description == "Only one"


def test_blank_task_form_shows_an_error_and_creates_nothing(admin_client):
    r = admin_client.post("/admin/tasks/task/add/", {"descriptions": " \n \n", "_save": "Save"})
    assert r.status_code == 200
    assert b'class="errorlist' in r.content
    assert not Task.objects.exists()


def test_task_state_is_read_only_in_the_admin(admin_client, make_person):
    (task,) = task_create(descriptions=["x"])
    r = admin_client.get(f"/admin/tasks/task/{task.pk}/change/")
    assert r.status_code == 200
    assert b'name="status"' not in r.content
    assert b'name="description"' in r.content


def test_task_list_filters_and_search(admin_client, make_person):
    task_create(descriptions=["weld seam", "bolt torque"])
    person_login(person_id=make_person().pk)
    for query in ["?status__exact=PENDING", "?q=weld", "?created_at__year=2030"]:
        assert admin_client.get("/admin/tasks/task/" + query).status_code == 200


def test_supervisor_adds_person_with_login(admin_client):
    r = admin_client.post(
        "/admin/personnel/person/add/",
        {"name": "Frank", "username": "frank", "password": "a-good-long-pass-77", "_save": "Save"},
    )
    assert r.status_code == 302
    person = Person.objects.get()
    assert person.user.username == "frank" and person.user.check_password("a-good-long-pass-77")


def test_person_add_form_shows_service_validation(admin_client, make_person):
    taken = make_person()
    r = admin_client.post(
        "/admin/personnel/person/add/",
        {"name": "X", "username": taken.user.username, "password": "1", "_save": "Save"},
    )
    assert r.status_code == 200
    assert b"already exists" in r.content and b"too short" in r.content
    assert Person.objects.count() == 1


def test_person_list_shows_current_task(admin_client, make_person):
    task_create(descriptions=["Inspect the thing"])
    person_login(person_id=make_person("Zed").pk)
    r = admin_client.get("/admin/personnel/person/?is_logged_in__exact=1&q=Zed")
    assert r.status_code == 200 and b"Inspect the thing" in r.content


def test_assignments_are_a_read_only_log(admin_client, make_person):
    task_create(descriptions=["x"])
    person_login(person_id=make_person().pk)
    assignment = Assignment.objects.get()
    assert admin_client.get("/admin/tasks/assignment/").status_code == 200
    assert admin_client.get("/admin/tasks/assignment/add/").status_code == 403
    r = admin_client.get(f"/admin/tasks/assignment/{assignment.pk}/change/")
    assert r.status_code == 200 and b'name="_save"' not in r.content
    assert admin_client.post(f"/admin/tasks/assignment/{assignment.pk}/delete/").status_code == 403


def test_nothing_is_deleted_from_the_admin(admin_client, make_person):
    (task,) = task_create(descriptions=["x"])
    person = make_person()
    assert admin_client.post(f"/admin/tasks/task/{task.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/personnel/person/{person.pk}/delete/").status_code == 403


def test_qc_person_cannot_reach_the_admin(client, make_person):
    client.force_login(make_person().user)
    r = client.get("/admin/tasks/task/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]

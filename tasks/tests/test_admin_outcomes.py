"""Outcomes in the admin (docs/engine.md, "Outcomes"): the defect catalogue, a task's
reviews and their number, resolving a dispute, the reviews in the assignment history."""

import pytest
from django.contrib.auth.models import Permission

from tasks.models import (
    MAX_REVIEWS,
    Assignment,
    AuditAction,
    AuditEvent,
    DefectCode,
    Task,
    TaskStatus,
)
from tasks.services import NewTask, task_complete, task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db

CODES = "/admin/tasks/defectcode/"


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


@pytest.fixture
def carol(make_person):
    return make_person("Carol")


# --- the defect catalogue ---


def test_supervisor_lists_searches_and_filters_defect_codes(admin_client):
    DefectCode.objects.create(code="SCRATCH", description="A scratch on the surface")
    DefectCode.objects.create(code="DENT", description="A dent", active=False)
    r = admin_client.get(CODES)
    assert r.status_code == 200
    assert b"SCRATCH" in r.content and b"DENT" in r.content
    r = admin_client.get(CODES, {"q": "surface"})
    assert b"SCRATCH" in r.content and b"A dent" not in r.content
    r = admin_client.get(CODES, {"active__exact": "0"})
    assert b"A dent" in r.content and b"A scratch" not in r.content


def test_a_new_code_is_kept_in_capitals(admin_client):
    r = admin_client.post(
        CODES + "add/", {"code": " label-missing ", "description": "No label", "active": "on"}
    )
    assert r.status_code == 302
    assert DefectCode.objects.get().code == "LABEL-MISSING"


def test_a_code_is_unique_whatever_its_case_and_of_the_allowed_characters(admin_client):
    DefectCode.objects.create(code="SCRATCH", description="A scratch")
    r = admin_client.post(CODES + "add/", {"code": "scratch", "description": "again"})
    assert r.status_code == 200 and b"already exists" in r.content
    r = admin_client.post(CODES + "add/", {"code": "NO SPACES", "description": "x"})
    assert r.status_code == 200 and b"Capital letters" in r.content
    assert DefectCode.objects.count() == 1


def test_a_saved_code_keeps_its_text_and_its_description_changes(admin_client):
    code = DefectCode.objects.create(code="SCRATCH", description="A scratch")
    r = admin_client.get(f"{CODES}{code.pk}/change/")
    assert r.status_code == 200 and b'name="code"' not in r.content
    assert b"deactivate it" in r.content
    r = admin_client.post(
        f"{CODES}{code.pk}/change/", {"code": "OTHER", "description": "A deep scratch"}
    )
    assert r.status_code == 302
    code.refresh_from_db()
    assert (code.code, code.description, code.active) == ("SCRATCH", "A deep scratch", False)


def test_codes_are_deactivated_and_activated_by_action(admin_client):
    a = DefectCode.objects.create(code="A", description="a")
    b = DefectCode.objects.create(code="B", description="b")
    r = admin_client.post(
        CODES, {"action": "deactivate_selected", "_selected_action": [a.pk, b.pk]}, follow=True
    )
    assert b"Deactivated 2 defect codes." in r.content
    assert not DefectCode.objects.filter(active=True).exists()
    r = admin_client.post(
        CODES, {"action": "activate_selected", "_selected_action": [a.pk]}, follow=True
    )
    assert b"Activated 1 defect code." in r.content
    assert list(DefectCode.objects.filter(active=True).values_list("code", flat=True)) == ["A"]


def test_a_code_deactivated_by_the_action_is_refused_at_once(admin_client):
    from django.core.exceptions import ValidationError

    from tasks import reviews

    code = DefectCode.objects.create(code="SCRATCH", description="A scratch")
    assert reviews.verdict_clean("fail", "", ["SCRATCH"]).defects == ("SCRATCH",)  # read
    admin_client.post(CODES, {"action": "deactivate_selected", "_selected_action": [code.pk]})
    with pytest.raises(ValidationError):
        reviews.verdict_clean("fail", "", ["SCRATCH"])


def test_a_code_is_never_deleted(admin_client):
    code = DefectCode.objects.create(code="SCRATCH", description="A scratch")
    assert admin_client.get(f"{CODES}{code.pk}/delete/").status_code == 403
    assert admin_client.post(f"{CODES}{code.pk}/delete/", {"post": "yes"}).status_code == 403
    r = admin_client.get(CODES)
    assert b'value="delete_selected"' not in r.content
    assert DefectCode.objects.filter(pk=code.pk).exists()


def test_staff_without_the_catalogue_permissions_cannot_change_it(client, django_user_model):
    staff = django_user_model.objects.create_user(username="viewer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_defectcode"))
    client.force_login(staff)
    code = DefectCode.objects.create(code="SCRATCH", description="A scratch")
    assert client.get(CODES).status_code == 200
    assert client.get(CODES + "add/").status_code == 403
    client.post(CODES, {"action": "deactivate_selected", "_selected_action": [code.pk]})
    assert DefectCode.objects.get().active


# --- a task's reviews ---


@pytest.fixture
def scratch():
    return DefectCode.objects.create(code="SCRATCH", description="A scratch on the surface")


@pytest.fixture
def disputed(alice, bob, scratch):
    """A task that needed two reviews: Alice passed it, Bob failed it with a scratch."""
    (task,) = task_create(tasks=[NewTask(description="Inspect weld seam", reviews_required=2)])
    person_login(person_id=alice.pk)
    task_complete(task_id=task.pk, person_id=alice.pk, outcome="pass", notes="Looks fine")
    person_login(person_id=bob.pk)
    task_complete(
        task_id=task.pk,
        person_id=bob.pk,
        outcome="fail",
        notes="Scratch near the seam",
        defects=["SCRATCH"],
    )
    task.refresh_from_db()
    assert task.status == TaskStatus.DISPUTED
    return task


def test_supervisor_adds_tasks_that_need_several_reviews(admin_client):
    r = admin_client.post(
        "/admin/tasks/task/add/",
        {"descriptions": "A\nB", "reviews_required": "3", "priority": "0", "_save": "Save"},
    )
    assert r.status_code == 302
    assert list(Task.objects.values_list("reviews_required", flat=True)) == [3, 3]


def test_reviews_required_is_one_by_default_and_at_most_the_maximum(admin_client):
    assert admin_client.get("/admin/tasks/task/add/").status_code == 200
    r = admin_client.post("/admin/tasks/task/add/", {"descriptions": "A", "_save": "Save"})
    assert r.status_code == 302 and Task.objects.get().reviews_required == 1
    r = admin_client.post(
        "/admin/tasks/task/add/",
        {"descriptions": "B", "reviews_required": str(MAX_REVIEWS + 1), "_save": "Save"},
    )
    assert r.status_code == 200 and b'class="errorlist' in r.content
    assert Task.objects.count() == 1


def test_reviews_required_changes_while_the_task_waits(admin_client):
    (task,) = task_create(descriptions=["x"])
    url = f"/admin/tasks/task/{task.pk}/change/"
    assert b'name="reviews_required"' in admin_client.get(url).content
    r = admin_client.post(url, {"description": "x", "priority": "0", "reviews_required": "2"})
    assert r.status_code == 302
    task.refresh_from_db()
    assert task.reviews_required == 2
    event = AuditEvent.objects.get(action=AuditAction.TASK_EDIT)
    assert "reviews_required: 1 → 2" in event.detail


def test_reviews_required_is_read_only_once_the_task_is_taken(admin_client, alice):
    (task,) = task_create(descriptions=["x"])
    person_login(person_id=alice.pk)
    r = admin_client.get(f"/admin/tasks/task/{task.pk}/change/")
    assert r.status_code == 200 and b'name="reviews_required"' not in r.content


def test_task_list_shows_reviews_and_outcome_and_filters_them(admin_client, disputed, carol):
    (other,) = task_create(tasks=[NewTask(description="Inspect bolt", reviews_required=1)])
    person_login(person_id=carol.pk)
    task_complete(task_id=other.pk, person_id=carol.pk, outcome="pass")
    r = admin_client.get("/admin/tasks/task/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "2/2" in html and "1/1" in html and "Pass" in html
    r = admin_client.get("/admin/tasks/task/", {"status__exact": "DISPUTED"})
    assert "Inspect weld seam" in r.content.decode()
    assert "Inspect bolt" not in r.content.decode()
    r = admin_client.get("/admin/tasks/task/", {"outcome__exact": "pass"})
    assert "Inspect bolt" in r.content.decode()
    assert "Inspect weld seam" not in r.content.decode()


def test_task_page_shows_its_reviews(admin_client, disputed):
    r = admin_client.get(f"/admin/tasks/task/{disputed.pk}/change/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Reviews (2 of 2)" in html
    assert html.count('class="qc-review"') == 2
    for text in ("Alice", "Bob", "Looks fine", "Scratch near the seam", "SCRATCH", "Fail"):
        assert text in html, text


def test_a_task_without_reviews_says_so(admin_client):
    (task,) = task_create(descriptions=["x"])
    r = admin_client.get(f"/admin/tasks/task/{task.pk}/change/")
    assert "No review yet." in r.content.decode()


# --- resolving a dispute ---


def test_supervisor_resolves_a_dispute_through_the_form(admin_client, disputed):
    page = f"/admin/tasks/task/{disputed.pk}/change/"
    url = f"/admin/tasks/task/{disputed.pk}/resolve/"
    assert url in admin_client.get(page).content.decode()
    r = admin_client.get(url)
    assert r.status_code == 200
    html = r.content.decode()
    assert 'name="outcome"' in html and 'name="note"' in html and "Scratch near the seam" in html
    r = admin_client.post(url, {"outcome": "fail", "note": "The scratch is out of tolerance"})
    assert r.status_code == 302 and r["Location"] == page
    disputed.refresh_from_db()
    assert (disputed.status, disputed.outcome) == (TaskStatus.COMPLETED, "fail")
    assert disputed.resolution_note == "The scratch is out of tolerance"
    event = AuditEvent.objects.get(action=AuditAction.RESOLVE)
    assert event.task_id == disputed.pk and event.actor_username == "boss"
    r = admin_client.get(page)
    html = r.content.decode()
    assert f"Task {disputed.pk} is resolved." in html
    assert "The scratch is out of tolerance" in html and url not in html


def test_resolve_form_needs_an_outcome_and_a_note(admin_client, disputed):
    url = f"/admin/tasks/task/{disputed.pk}/resolve/"
    r = admin_client.post(url, {"outcome": "maybe", "note": "  "})
    assert r.status_code == 200
    assert r.content.decode().count('class="errorlist') == 2
    disputed.refresh_from_db()
    assert disputed.status == TaskStatus.DISPUTED


def test_resolving_a_task_that_is_not_disputed_is_a_message(admin_client):
    (task,) = task_create(descriptions=["x"])
    url = f"/admin/tasks/task/{task.pk}/resolve/"
    r = admin_client.post(url, {"outcome": "pass", "note": "ok"}, follow=True)
    assert r.status_code == 200 and b"is not disputed" in r.content
    assert Task.objects.get().status == TaskStatus.PENDING
    assert admin_client.get("/admin/tasks/task/999999/resolve/").status_code == 404


def test_a_refused_resolve_is_shown_not_a_server_error(admin_client, disputed, monkeypatch):
    from qcproject.exceptions import Conflict
    from tasks.admin import interventions

    def refused(**kwargs):
        raise Conflict("Task was resolved by someone else meanwhile.")

    service, message = interventions.TASK_INTERVENTIONS["resolve"]
    monkeypatch.setitem(interventions.TASK_INTERVENTIONS, "resolve", (refused, message))
    url = f"/admin/tasks/task/{disputed.pk}/resolve/"
    r = admin_client.post(url, {"outcome": "pass", "note": "ok"})
    assert r.status_code == 200 and b"resolved by someone else meanwhile" in r.content


def test_resolve_needs_the_intervene_permission(client, django_user_model, disputed):
    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_task"),
        Permission.objects.get(codename="change_task"),
    )
    client.force_login(viewer)
    page = client.get(f"/admin/tasks/task/{disputed.pk}/change/").content.decode()
    url = f"/admin/tasks/task/{disputed.pk}/resolve/"
    assert url not in page
    assert client.get(url).status_code == 403
    assert client.post(url, {"outcome": "pass", "note": "ok"}).status_code == 403
    r = client.post(
        "/admin/tasks/task/", {"action": "resolve_selected", "_selected_action": [disputed.pk]}
    )
    assert r.status_code in (200, 302) and "/resolve/" not in r.get("Location", "")
    disputed.refresh_from_db()
    assert disputed.status == TaskStatus.DISPUTED


def test_resolve_action_leads_to_the_form_for_one_task(admin_client, disputed):
    r = admin_client.post(
        "/admin/tasks/task/", {"action": "resolve_selected", "_selected_action": [disputed.pk]}
    )
    assert r.status_code == 302
    assert r["Location"] == f"/admin/tasks/task/{disputed.pk}/resolve/"
    (other,) = task_create(descriptions=["x"])
    r = admin_client.post(
        "/admin/tasks/task/",
        {"action": "resolve_selected", "_selected_action": [disputed.pk, other.pk]},
        follow=True,
    )
    assert b"Select exactly one task to resolve." in r.content


# --- the assignment history ---


def test_assignment_list_shows_reviews_and_filters_by_verdict(admin_client, disputed, carol):
    (other,) = task_create(descriptions=["Inspect bolt"])
    person_login(person_id=carol.pk)  # gets the bolt: an assignment without a review yet
    r = admin_client.get("/admin/tasks/assignment/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Completed: Fail · SCRATCH <q>Scratch near the seam</q>" in html
    assert "Completed: Pass <q>Looks fine</q>" in html
    r = admin_client.get("/admin/tasks/assignment/", {"outcome__exact": "fail"})
    html = r.content.decode()
    assert "Scratch near the seam" in html and "Looks fine" not in html
    r = admin_client.get("/admin/tasks/assignment/", {"q": "fine"})
    assert "Looks fine" in r.content.decode() and "Scratch near" not in r.content.decode()


def test_assignment_page_shows_the_review(admin_client, disputed):
    review = Assignment.objects.get(task=disputed, outcome="fail")
    r = admin_client.get(f"/admin/tasks/assignment/{review.pk}/change/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Verdict" in html and "Scratch near the seam" in html and "SCRATCH" in html


def test_a_change_without_reviews_required_keeps_it(admin_client):
    (task,) = task_create(tasks=[NewTask(description="x", reviews_required=3)])
    r = admin_client.post(
        f"/admin/tasks/task/{task.pk}/change/", {"description": "y", "priority": "0"}
    )
    assert r.status_code == 302
    task.refresh_from_db()
    assert (task.description, task.reviews_required) == ("y", 3)

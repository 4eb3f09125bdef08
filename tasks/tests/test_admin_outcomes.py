"""Outcomes in the admin (docs/engine.md, "Outcomes"): the defect catalogue, a task's
reviews and their number, resolving a dispute, the reviews in the assignment history."""

import pytest
from django.contrib.auth.models import Permission

from tasks.models import DefectCode

pytestmark = pytest.mark.django_db

CODES = "/admin/tasks/defectcode/"


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


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

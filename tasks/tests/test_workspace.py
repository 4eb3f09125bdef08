"""The supervisor workspace in the admin: dashboard, interventions, import, export, metrics,
and who may reach it."""

import io
import json

import pytest
from django.contrib.auth.models import Group, Permission

from personnel.models import Person
from tasks.assigner import assigner_claim, assigner_report
from tasks.models import AuditAction, AuditEvent, Task
from tasks.models import TaskStatus as S
from tasks.roles import SUPERVISOR_PERMISSIONS, SUPERVISORS_GROUP
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


# --- permissions ---


def test_supervisors_group_has_exactly_the_workspace_permissions():
    group = Group.objects.get(name=SUPERVISORS_GROUP)
    have = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert have == set(SUPERVISOR_PERMISSIONS)


def test_staff_outside_the_group_sees_no_workspace(client, django_user_model):
    staff = django_user_model.objects.create_user(username="staff", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/tasks/task/dashboard/").status_code == 403
    assert client.get("/admin/tasks/task/").status_code == 403
    assert client.get("/admin/tasks/task/import/").status_code == 403
    assert client.get("/admin/tasks/assignment/export/").status_code == 403


def test_qc_person_cannot_reach_the_workspace(client, alice):
    client.force_login(alice.user)
    r = client.get("/admin/tasks/task/dashboard/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_admin_index_links_the_dashboard(admin_client):
    r = admin_client.get("/admin/")
    assert b"/admin/tasks/task/dashboard/" in r.content


# --- dashboard ---


def test_dashboard_shows_queue_people_and_flow(admin_client, alice, bob):
    task_create(descriptions=["weld seam A", "weld seam B", "weld seam C"])
    person_login(person_id=alice.pk)
    assigner_claim(name="host:7")
    assigner_report(name="host:7", seconds=0.01, assigned=0, released=0)
    for window in ("hour", "today", "week", "bogus"):
        r = admin_client.get("/admin/tasks/task/dashboard/", {"window": window})
        assert r.status_code == 200
    d = r.context["d"]
    assert d.window == "hour"  # an unknown window falls back to the default
    assert (d.queue.pending, d.queue.in_progress) == (2, 1)
    assert (d.people.working, d.people.idle, d.people.signed_out) == (1, 0, 1)
    html = r.content.decode()
    assert 'id="qc-pending">2<' in html and 'id="qc-working">1<' in html
    assert "Alice" in html and "weld seam A" in html and "host:7" in html
    # Fresh figures come from the JSON endpoint (static/dashboard/dashboard.js), never from
    # a meta refresh that resets the page under the supervisor.
    assert 'http-equiv="refresh"' not in html
    assert "dashboard/dashboard.js" in html and 'id="qc-dashboard-config"' in html


def test_dashboard_warns_when_no_assigner_reports(admin_client):
    r = admin_client.get("/admin/tasks/task/dashboard/")
    assert b"No assigner has reported yet" in r.content


# --- interventions in the admin ---


def test_release_button_on_task_page(admin_client, alice):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    page = admin_client.get(f"/admin/tasks/task/{a.pk}/change/")
    assert b"Put back in the queue" in page.content and b"Cancel task" in page.content
    r = admin_client.post(f"/admin/tasks/task/{a.pk}/release/")
    assert r.status_code == 302
    assert Task.objects.get(pk=a.pk).status == S.PENDING
    assert AuditEvent.objects.get().actor_username == "boss"


def test_intervention_urls_refuse_get_and_unknown_names(admin_client, alice):
    (a,) = task_create(descriptions=["a"])
    person_login(person_id=alice.pk)
    assert admin_client.get(f"/admin/tasks/task/{a.pk}/release/").status_code == 302
    admin_client.post(f"/admin/tasks/task/{a.pk}/explode/")  # the admin's catch-all redirect
    assert Task.objects.get(pk=a.pk).status == S.IN_PROGRESS
    assert admin_client.post("/admin/tasks/task/987654/cancel/").status_code == 404


def test_reassign_and_cancel_buttons(admin_client, alice, bob):
    a, b = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)  # a
    Task.objects.filter(pk=b.pk).update(status=S.CANCELLED)  # keep bob free
    person_login(person_id=bob.pk)
    r = admin_client.post(f"/admin/tasks/task/{a.pk}/reassign/", {"person": bob.pk})
    assert r.status_code == 302
    assert Task.objects.get(pk=a.pk).assigned_to_id == bob.pk
    r = admin_client.post(f"/admin/tasks/task/{a.pk}/reassign/", {"person": ""}, follow=True)
    assert b"Choose a free person" in r.content
    admin_client.post(f"/admin/tasks/task/{a.pk}/cancel/")
    assert Task.objects.get(pk=a.pk).status == S.CANCELLED
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [AuditAction.REASSIGN, AuditAction.CANCEL]


def test_refused_intervention_is_shown_not_raised(admin_client):
    (a,) = task_create(descriptions=["a"])
    r = admin_client.post(f"/admin/tasks/task/{a.pk}/release/", follow=True)
    assert r.status_code == 200 and b"is not in progress" in r.content


def test_list_actions_release_cancel_reassign(admin_client, alice, bob):
    a, b, c = task_create(descriptions=["a", "b", "c"])
    person_login(person_id=alice.pk)  # a
    url = "/admin/tasks/task/"
    admin_client.post(url, {"action": "release_selected", "_selected_action": [a.pk]})
    assert Task.objects.get(pk=a.pk).status == S.PENDING  # alice moved on to b
    admin_client.post(url, {"action": "cancel_selected", "_selected_action": [c.pk]})
    assert Task.objects.get(pk=c.pk).status == S.CANCELLED
    person_login(person_id=bob.pk)  # a
    admin_client.post(
        url,
        {"action": "reassign_selected", "_selected_action": [a.pk, b.pk], "person": alice.pk},
    )  # two selected: refused
    assert Task.objects.get(pk=a.pk).assigned_to_id == bob.pk
    assert AuditEvent.objects.count() == 2


def test_sign_out_button_and_action(admin_client, alice, bob):
    task_create(descriptions=["a"])
    person_login(person_id=alice.pk)
    person_login(person_id=bob.pk)
    assert (
        b"Sign out now" in admin_client.get(f"/admin/personnel/person/{alice.pk}/change/").content
    )
    admin_client.post(f"/admin/personnel/person/{alice.pk}/sign-out/")
    assert not Person.objects.get(pk=alice.pk).is_logged_in
    admin_client.post(
        "/admin/personnel/person/",
        {"action": "sign_out_selected", "_selected_action": [alice.pk, bob.pk]},
    )
    assert not Person.objects.get(pk=bob.pk).is_logged_in
    events = list(AuditEvent.objects.values_list("action", "person_id").order_by("id"))
    assert events == [(AuditAction.SIGN_OUT, alice.pk), (AuditAction.SIGN_OUT, bob.pk)]


# --- import ---


def _upload(client, name, content: bytes):
    f = io.BytesIO(content)
    f.name = name
    return client.post("/admin/tasks/task/import/", {"file": f})


def _confirm(client, preview_response):
    token = preview_response.context["token"]
    return client.post("/admin/tasks/task/import/", {"token": token, "confirm": "1"})


def test_import_csv_preview_then_confirm(admin_client):
    csv = b"description,external_id\nInspect lot 1,L-1\nInspect lot 2,L-2\nInspect lot 3,\n"
    preview = _upload(admin_client, "tasks.csv", csv)
    assert preview.status_code == 200 and preview.context["row_count"] == 3
    assert not Task.objects.exists()  # nothing before confirmation
    r = _confirm(admin_client, preview)
    assert r.status_code == 302
    assert list(Task.objects.order_by("id").values_list("description", "external_id")) == [
        ("Inspect lot 1", "L-1"),
        ("Inspect lot 2", "L-2"),
        ("Inspect lot 3", None),
    ]
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.IMPORT and "3 tasks imported" in event.detail


def test_import_json(admin_client):
    data = json.dumps([{"description": "a", "external_id": "x1"}, {"description": "b"}]).encode()
    _confirm(admin_client, _upload(admin_client, "tasks.json", data))
    assert Task.objects.count() == 2


def test_import_with_a_bad_row_shows_errors_and_imports_nothing(admin_client):
    csv = b"description,external_id\nok,A\n,B\nok again,A\n"
    r = _upload(admin_client, "bad.csv", csv)
    assert r.status_code == 200 and "token" not in r.context
    errors = dict(r.context["errors"])
    assert set(errors) == {3, 4}  # blank description; repeated external id
    assert "repeats line 2" in " ".join(errors[4])
    assert not Task.objects.exists()


def test_import_refuses_unreadable_files(admin_client):
    for name, content in [
        ("x.csv", b"title\nno description column\n"),
        ("x.json", b'{"not": "a list"}'),
        ("x.json", b"[{"),
        ("x.csv", b"\xff\xfe\x00bad"),
    ]:
        r = _upload(admin_client, name, content)
        assert r.status_code == 200 and r.context["form"].errors, name
    assert not Task.objects.exists()


def test_reimporting_the_same_file_creates_nothing_twice(admin_client):
    csv = b"description,external_id\nInspect lot 1,L-1\nInspect lot 2,L-2\n"
    _confirm(admin_client, _upload(admin_client, "a.csv", csv))
    r = _confirm(admin_client, _upload(admin_client, "a.csv", csv + b"Inspect lot 3,L-3\n"))
    assert r.status_code == 302
    assert sorted(Task.objects.values_list("external_id", flat=True)) == ["L-1", "L-2", "L-3"]


def test_confirm_with_a_stale_token_imports_nothing(admin_client):
    r = admin_client.post("/admin/tasks/task/import/", {"token": "nope", "confirm": "1"})
    assert r.status_code == 302 and not Task.objects.exists()


def test_import_of_10000_tasks(admin_client):
    lines = ["description,external_id"] + [f"Inspect unit {i},U-{i}" for i in range(10_000)]
    preview = _upload(admin_client, "big.csv", "\n".join(lines).encode())
    assert preview.context["row_count"] == 10_000
    assert len(preview.context["preview"]) == 50
    _confirm(admin_client, preview)
    assert Task.objects.count() == 10_000


# --- export ---


def test_export_assignment_history_as_csv_with_filters(admin_client, alice, bob):
    task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    person_login(person_id=bob.pk)
    r = admin_client.get("/admin/tasks/assignment/export/")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    lines = b"".join(r.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("assignment_id,task_id,task_description,person_id")
    assert len(lines) == 3
    r = admin_client.get("/admin/tasks/assignment/export/", {"person__id__exact": alice.pk})
    lines = b"".join(r.streaming_content).decode().strip().splitlines()
    assert len(lines) == 2 and "Alice" in lines[1]


def test_export_button_keeps_the_filters(admin_client):
    r = admin_client.get("/admin/tasks/assignment/", {"end_reason__exact": "STALE"})
    assert b"/admin/tasks/assignment/export/?end_reason__exact=STALE" in r.content


# --- metrics ---


def test_metrics_values(client, settings, alice, bob):
    settings.QC_METRICS_TOKEN = "s3cret"
    a, b, c = task_create(descriptions=["a", "b", "c"])
    person_login(person_id=alice.pk)
    from tasks.services import task_complete
    from tasks.sessions import person_logout

    task_complete(task_id=a.pk, person_id=alice.pk)  # alice: b
    person_login(person_id=bob.pk)  # bob: c
    person_logout(person_id=bob.pk)  # c released (LOGOUT)
    assigner_claim(name="host:1")
    assigner_report(name="host:1", seconds=0.125, assigned=1, released=0)
    r = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert r.status_code == 200
    text = r.content.decode()
    expected = [
        "qc_queue_pending 1.0",
        "qc_queue_in_progress 1.0",
        "qc_tasks_created_total 3.0",
        'qc_people{state="working"} 1.0',
        'qc_people{state="idle"} 0.0',
        'qc_people{state="signed_out"} 1.0',
        'qc_assignments_total{source="LOGIN"} 2.0',
        'qc_assignments_total{source="COMPLETE"} 1.0',
        'qc_assignments_total{source="ASSIGNER"} 0.0',
        "qc_completions_total 1.0",
        'qc_releases_total{reason="LOGOUT"} 1.0',
        'qc_releases_total{reason="STALE"} 0.0',
        'qc_assigner_cycle_duration_seconds{assigner="host:1"} 0.125',
        'qc_assigner_cycles_total{assigner="host:1"} 1.0',
    ]
    for line in expected:
        assert line in text, line
    assert "qc_assigner_last_success_timestamp_seconds" in text
    assert "qc_queue_oldest_pending_age_seconds" in text


def test_metrics_are_protected(client, settings, alice):
    settings.QC_METRICS_TOKEN = "s3cret"
    settings.QC_METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    client.force_login(alice.user)
    assert client.get("/metrics").status_code == 403
    settings.QC_METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client.logout()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1


def test_metrics_for_a_signed_in_supervisor(admin_client, settings):
    settings.QC_METRICS_TOKEN = ""
    settings.QC_METRICS_ALLOWED_NETWORKS = []
    assert admin_client.get("/metrics").status_code == 200


def test_permission_codenames_exist():
    for app, codename in SUPERVISOR_PERMISSIONS:
        assert Permission.objects.filter(content_type__app_label=app, codename=codename).exists()

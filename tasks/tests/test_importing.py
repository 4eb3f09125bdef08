"""Task import files as people have them: Excel's CSV flavours, Windows-1252, .xlsx, the
template; and what the import refuses (oversized uploads, values that are not text), and
where a checked import waits for its confirmation (a table of its own, not the session)."""

import io
import json
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from openpyxl import Workbook, load_workbook

from tasks.importing import UploadSizeLimit
from tasks.models import PendingImport, PendingImportChunk, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, supervisor):
    client.force_login(supervisor)
    return client


def upload(client, name, content: bytes, **fields):
    f = io.BytesIO(content)
    f.name = name
    return client.post("/admin/tasks/task/import/", {"file": f, **fields})


def confirm(client, preview):
    assert "token" in preview.context, (
        preview.context.get("errors") or preview.context["form"].errors
    )
    return client.post(
        "/admin/tasks/task/import/", {"token": preview.context["token"], "confirm": "1"}
    )


def imported():
    return list(Task.objects.order_by("id").values_list("description", "external_id"))


def xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- what Excel and others write ---


@pytest.mark.parametrize(
    "content",
    [
        b"description;external_id\r\nInspect lot 1;L-1\r\nInspect lot 2, twice;L-2\r\n",
        b"description\texternal_id\nInspect lot 1\tL-1\nInspect lot 2, twice\tL-2\n",
        b"sep=;\ndescription;external_id\nInspect lot 1;L-1\nInspect lot 2, twice;L-2\n",
        b'description,external_id\nInspect lot 1,L-1\n"Inspect lot 2, twice",L-2\n',
        b"\xef\xbb\xbfdescription;external_id\nInspect lot 1;L-1\nInspect lot 2, twice;L-2\n\n",
    ],
    ids=["semicolon", "tab", "sep-line", "comma", "bom-and-blank-line"],
)
def test_csv_delimiter_is_found_from_the_header(admin_client, content):
    r = confirm(admin_client, upload(admin_client, "tasks.csv", content))
    assert r.status_code == 302
    assert imported() == [("Inspect lot 1", "L-1"), ("Inspect lot 2, twice", "L-2")]


def test_utf16_from_excel_unicode_text_is_read(admin_client):
    content = "description\texternal_id\nPrüfung Los 1\tL-1\n".encode("utf-16")
    confirm(admin_client, upload(admin_client, "tasks.txt", content))
    assert imported() == [("Prüfung Los 1", "L-1")]


def test_windows_1252_file_gets_a_clear_message_then_reads_when_chosen(admin_client):
    content = "description;external_id\nPrüfe Gehäuse – Los 7;L-7\n".encode("cp1252")
    r = upload(admin_client, "tasks.csv", content)
    message = " ".join(r.context["form"].errors["file"])
    assert "not UTF-8" in message and "Windows-1252" in message and "line 2" in message
    assert not Task.objects.exists()
    r = confirm(admin_client, upload(admin_client, "tasks.csv", content, encoding="cp1252"))
    assert imported() == [("Prüfe Gehäuse – Los 7", "L-7")]


def test_xlsx_import_reads_the_first_sheet(admin_client):
    content = xlsx(
        [
            ["Description", "External_ID"],
            ["Inspect lot 1", 1001],  # Excel made the id a number
            [None, None],  # an empty row left in the sheet
            ["Inspect lot 2", "B-2"],
            ["Inspect lot 3", None],
        ]
    )
    preview = upload(admin_client, "tasks.xlsx", content)
    assert preview.context["row_count"] == 3
    confirm(admin_client, preview)
    assert imported() == [
        ("Inspect lot 1", "1001"),
        ("Inspect lot 2", "B-2"),
        ("Inspect lot 3", None),
    ]


def test_xlsx_errors_name_the_sheet_rows(admin_client):
    from datetime import datetime

    content = xlsx([["description", "external_id"], ["ok", "A"], [datetime(2026, 1, 1), "B"]])
    r = upload(admin_client, "tasks.xlsx", content)
    errors = dict(r.context["errors"])
    assert list(errors) == [3] and "description must be text" in errors[3][0]


def test_broken_or_old_excel_files_are_refused_with_a_message(admin_client):
    r = upload(admin_client, "tasks.xlsx", b"PK\x03\x04 not really a zip")
    assert "not a readable Excel workbook" in " ".join(r.context["form"].errors["file"])
    r = upload(admin_client, "tasks.xls", b"\xd0\xcf\x11\xe0")
    assert ".xlsx" in " ".join(r.context["form"].errors["file"])
    assert not Task.objects.exists()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_template_downloads_import_as_they_are(admin_client, kind):
    r = admin_client.get(f"/admin/tasks/task/import/template.{kind}")
    assert r.status_code == 200
    assert f'filename="qc-tasks-template.{kind}"' in r["Content-Disposition"]
    if kind == "xlsx":
        sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
        assert next(sheet.iter_rows(values_only=True))[:2] == ("description", "external_id")
    else:
        assert r.content.startswith(b"\xef\xbb\xbfdescription,external_id")
    confirm(admin_client, upload(admin_client, f"template.{kind}", r.content))
    assert Task.objects.count() == 2


def test_template_needs_the_import_permission(client, alice):
    client.force_login(alice.user)
    assert client.get("/admin/tasks/task/import/template.csv").status_code == 302
    assert client.get("/admin/tasks/task/import/template.exe").status_code in (302, 404)


def test_the_import_page_links_the_templates(admin_client):
    html = admin_client.get("/admin/tasks/task/import/").content.decode()
    assert "/admin/tasks/task/import/template.xlsx" in html
    assert "/admin/tasks/task/import/template.csv" in html


# --- values that are not text (security issue 12) ---


def test_json_values_that_are_not_text_are_row_errors_not_coerced(admin_client):
    data = [
        {"description": "ok", "external_id": "A"},
        {"description": "number id", "external_id": 12},
        {"description": 5},
        {"description": {"nested": "x"}},
        {"description": "list id", "external_id": ["a"]},
        {"description": True},
        "not an object",
    ]
    r = upload(admin_client, "tasks.json", json.dumps(data).encode())
    errors = dict(r.context["errors"])
    assert set(errors) == {2, 3, 4, 5, 6, 7}
    assert "external_id must be text, not a number" in errors[2][0]
    assert "description must be text, not a number" in errors[3][0]
    assert "not an object" in errors[4][0]
    assert "not a list" in errors[5][0]
    assert "not true/false" in errors[6][0]
    assert "token" not in r.context and not Task.objects.exists()


def test_a_5000_digit_json_number_is_a_row_error_not_a_500(admin_client):
    content = b'[{"description": "x", "external_id": ' + b"9" * 5000 + b"}]"
    r = upload(admin_client, "tasks.json", content)
    assert r.status_code == 200
    assert "external_id must be text, not a number" in dict(r.context["errors"])[1][0]
    content = b'[{"description": 1e99999}]'
    r = upload(admin_client, "tasks.json", content)
    assert r.status_code == 200 and 1 in dict(r.context["errors"])
    assert not Task.objects.exists()


# --- size (security issue 12): refused while it arrives, never read whole ---


def test_an_upload_over_the_limit_is_refused_before_it_is_read(admin_client, settings, monkeypatch):
    settings.QC_MAX_IMPORT_BYTES = 1000

    def must_not_parse(*args, **kwargs):
        raise AssertionError("an oversized upload reached the parser")

    monkeypatch.setattr("tasks.importing.parse_import_file", must_not_parse)
    received = []
    original = UploadSizeLimit.receive_data_chunk

    def spy(self, raw_data, start):
        received.append(start + len(raw_data))
        return original(self, raw_data, start)

    monkeypatch.setattr(UploadSizeLimit, "receive_data_chunk", spy)
    content = b"description\n" + b"Inspect this lot\n" * 6000  # ~100 kB
    r = upload(admin_client, "big.csv", content)
    assert r.status_code == 200
    assert "larger than 1000 bytes" in " ".join(r.context["form"].errors["file"])
    assert not Task.objects.exists() and not PendingImport.objects.exists()
    # By its Content-Length the request was refused before any of the file was taken in.
    assert received == []


def test_an_upload_over_the_limit_without_a_length_stops_at_the_limit(settings, rf):
    """Chunked uploads have no Content-Length: the bytes are counted as they arrive."""
    from django.core.files.uploadhandler import SkipFile

    settings.QC_MAX_IMPORT_BYTES = 1000
    request = rf.post("/")
    handler = UploadSizeLimit(request)
    handler.handle_raw_input(None, {}, 0, b"", None)
    handler.new_file("file", "a.csv", "text/csv", None)
    assert handler.receive_data_chunk(b"x" * 600, 0) == b"x" * 600
    with pytest.raises(SkipFile):
        handler.receive_data_chunk(b"x" * 600, 600)
    assert request.upload_too_large


def test_rows_past_the_limit_are_not_read(admin_client, settings):
    settings.QC_MAX_IMPORT_ROWS = 10
    content = b"description\n" + b"".join(b"row %d\n" % i for i in range(1000))
    r = upload(admin_client, "many.csv", content)
    errors = dict(r.context["errors"])
    assert "At most 10 rows" in " ".join(sum(errors.values(), []))
    assert r.context["row_count"] == 11 and "token" not in r.context


# --- the pending import (security issue 12): a table of its own, not the session ---


def test_a_checked_import_waits_in_its_own_table_not_in_the_session(admin_client):
    lines = ["description,external_id"] + [f"Inspect unit {i},U-{i}" for i in range(12_000)]
    preview = upload(admin_client, "big.csv", "\n".join(lines).encode())
    assert "qc_task_import" not in admin_client.session
    assert len(admin_client.session.encode(dict(admin_client.session))) < 2_000
    pending = PendingImport.objects.get()
    assert pending.row_count == 12_000 and pending.token == preview.context["token"]
    assert PendingImportChunk.objects.filter(pending=pending).count() == 3
    confirm(admin_client, preview)
    assert Task.objects.count() == 12_000
    assert not PendingImport.objects.exists() and not PendingImportChunk.objects.exists()


def test_a_pending_import_is_its_supervisors_only(admin_client, client, django_user_model):
    from tasks.roles import make_supervisor

    preview = upload(admin_client, "a.csv", b"description\nInspect\n")
    other = make_supervisor(django_user_model.objects.create_user(username="other"))
    client.force_login(other)
    r = client.post(
        "/admin/tasks/task/import/", {"token": preview.context["token"], "confirm": "1"}
    )
    assert r.status_code == 302 and not Task.objects.exists()
    assert PendingImport.objects.count() == 1


def test_a_pending_import_expires(admin_client):
    preview = upload(admin_client, "a.csv", b"description\nInspect\n")
    PendingImport.objects.update(expires_at=Now() - timedelta(seconds=1))
    r = confirm(admin_client, preview)
    assert r.status_code == 302 and not Task.objects.exists()
    r = admin_client.get(r["Location"])
    assert b"That import expired" in r.content


def test_a_new_preview_replaces_the_supervisors_earlier_one(admin_client):
    first = upload(admin_client, "a.csv", b"description\nfirst\n")
    second = upload(admin_client, "b.csv", b"description\nsecond\n")
    assert PendingImport.objects.get().token == second.context["token"]
    confirm(admin_client, first)  # gone: imports nothing
    assert not Task.objects.exists()


def test_confirming_twice_imports_once(admin_client):
    preview = upload(admin_client, "a.csv", b"description,external_id\nInspect,\n")
    confirm(admin_client, preview)
    confirm(admin_client, preview)
    assert Task.objects.count() == 1

"""Task import files: reading them (CSV, JSON, Excel) into `ImportRow`s, refusing oversized
uploads while they arrive, keeping a checked import until its supervisor confirms it, and
the template people start from.

Validation of the rows is `services.task_import_validate`, writing is `services.task_import`.
"""

import csv
import io
import json
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from qcproject.exceptions import DomainError

from . import services
from .models import PendingImport, PendingImportChunk
from .services import ImportRow

COLUMNS = ["description", "external_id", *ImportRow.COLUMNS]
# Encodings a supervisor can choose for a CSV file. UTF-16 (Excel's "Unicode text") is
# recognised by its byte order mark whatever the choice.
ENCODINGS = {
    "utf-8": _("UTF-8 (also “CSV UTF-8” from Excel)"),
    "cp1252": _("Windows-1252 (“CSV” from Excel on Windows, Western Europe)"),
}
# The column separators a CSV file may use, with their names as the import page shows them.
DELIMITERS = {",": _("comma"), ";": _("semicolon"), "\t": _("tab")}
SNIFF_BYTES = 64 * 1024
# Rows per compressed slice of a pending import.
CHUNK_ROWS = 5_000


class ImportFileError(DomainError):
    """The file as a whole cannot be read (no row-level errors to show)."""


@dataclass
class ParsedFile:
    rows: list[ImportRow]
    # line -> problems found while reading (a number where text belongs…); those rows are
    # not in `rows`.
    errors: dict[int, list[str]] = field(default_factory=dict)
    delimiter: str = ""  # CSV only: the one found


def max_bytes_text() -> str:
    """The largest import file, as people read it (in the active language)."""
    size = settings.QC_MAX_IMPORT_BYTES
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return ngettext("%(size)s byte", "%(size)s bytes", size) % {"size": size}


class UploadSizeLimit(FileUploadHandler):
    """Refuses an uploaded file larger than QC_MAX_IMPORT_BYTES as it arrives: by the
    request's Content-Length before the first byte, else once the bytes pass the limit.
    The file is skipped (the rest of it is read and thrown away, never kept in memory or
    on disk) and the request is marked, so the view can say why: `request.upload_too_large`.
    The other form fields still arrive (the CSRF token among them)."""

    # Room for the multipart framing and the other fields of the form.
    FORM_OVERHEAD = 64 * 1024

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        limit = settings.QC_MAX_IMPORT_BYTES
        self.refuse_all = content_length > limit + self.FORM_OVERHEAD
        if self.refuse_all and self.request is not None:
            self.request.upload_too_large = True

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if getattr(self, "refuse_all", False):
            raise SkipFile

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > settings.QC_MAX_IMPORT_BYTES:
            if self.request is not None:
                self.request.upload_too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


def parse_import_file(upload, *, encoding: str = "utf-8") -> ParsedFile:
    """Read an uploaded file (`name`, `size`, a binary file object): `.xlsx` (the first
    sheet), `.json` (a list of objects), else CSV with a header row (comma, semicolon or
    tab, found from the header). Columns `description` and optional `external_id`. Line
    numbers are the file's (CSV), the sheet's rows (Excel) or 1-based positions (JSON).

    Raises ImportFileError when the file as a whole cannot be read.
    """
    if upload.size > settings.QC_MAX_IMPORT_BYTES:
        raise ImportFileError(f"The file is larger than {max_bytes_text()}.")
    name = (upload.name or "").lower()
    if name.endswith(".xlsx"):
        return _parse_xlsx(upload)
    if name.endswith((".xls", ".xlsm", ".ods", ".numbers")):
        raise ImportFileError(
            "Only Excel workbooks in .xlsx format are read: save the file as .xlsx "
            "(Excel Workbook) or CSV and upload it again."
        )
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    text_encoding = _encoding(head, encoding)
    if name.endswith(".json") or _first_text(head, text_encoding).startswith("["):
        return _parse_json(_decode(upload.read(), text_encoding))
    stream = io.TextIOWrapper(upload, encoding=text_encoding, newline="")
    try:
        return _parse_csv(stream)
    except UnicodeDecodeError as exc:
        stream.detach()
        stream = None
        if text_encoding == "utf-8-sig":
            raise _not_utf8(f"line {_first_bad_line(upload)}") from exc
        raise ImportFileError(f"The file is not {text_encoding} text: {exc.reason}.") from exc
    finally:
        if stream is not None:
            stream.detach()


def _first_bad_line(upload) -> int:
    """The first line that is not UTF-8 (the text layer decodes ahead of the reader, so
    its position says little): the file read again, a line at a time."""
    upload.seek(0)
    for number, line in enumerate(upload, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return 1


def _encoding(head: bytes, chosen: str) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if chosen not in ENCODINGS:
        raise ImportFileError(f"Unknown encoding {chosen!r}.")
    return "utf-8-sig" if chosen == "utf-8" else chosen


def _first_text(head: bytes, encoding: str) -> str:
    return head[:64].decode(encoding, errors="ignore").lstrip()


def _not_utf8(where: str) -> ImportFileError:
    return ImportFileError(
        f"The file is not UTF-8 text ({where}). A CSV file saved by Excel on Windows is "
        "usually Windows-1252: choose it under Encoding and upload the file again, or save "
        'it from Excel as "CSV UTF-8" or as an Excel workbook (.xlsx).'
    )


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-8-sig":
            line = data[: exc.start].count(b"\n") + 1
            raise _not_utf8(f"line {line}") from exc
        raise ImportFileError(f"The file is not {encoding} text: {exc.reason}.") from exc


def _text(value, *, line: int, column: str, errors: dict, numbers_as_text: bool = False):
    """A cell as stripped text, None when empty; anything else is a problem of its line
    (never turned into text with str()), except whole numbers in a spreadsheet's cells
    (`numbers_as_text`), where Excel, not the person, chose the type."""
    if value is None:
        return None
    if isinstance(value, _JSONNumber):
        kind = "a number"
    elif isinstance(value, str):
        return value.strip() or None
    elif isinstance(value, bool):
        kind = "true/false"
    elif numbers_as_text and isinstance(value, int):
        return str(value)
    elif numbers_as_text and isinstance(value, float) and value.is_integer():
        return str(int(value))
    elif isinstance(value, dict):
        kind = "an object"
    elif isinstance(value, list):
        kind = "a list"
    elif isinstance(value, int | float):
        kind = "a number"
    else:
        kind = "a date or another value that is not text"
    errors.setdefault(line, []).append(f"The {column} must be text, not {kind}.")
    return None


def _row(line: int, values: dict, errors: dict, *, numbers_as_text=False) -> ImportRow | None:
    before = len(errors.get(line, []))
    description = _text(
        values.get("description"),
        line=line,
        column="description",
        errors=errors,
        numbers_as_text=numbers_as_text,
    )
    external_id = _text(
        values.get("external_id"),
        line=line,
        column="external_id",
        errors=errors,
        numbers_as_text=numbers_as_text,
    )
    if len(errors.get(line, [])) > before:
        return None
    return ImportRow(
        line=line, description=description or "", external_id=external_id, **_routing(values)
    )


def _routing(values: dict) -> dict:
    """The routing and review columns or keys (priority, skill, max_handle_seconds,
    expires_at, reviews_required) as the file gives them: text stripped, other values (a
    JSON number, a spreadsheet's number or date) as they are; the import's validation
    (`services.task_import_validate`) reads them with the rules of every other way of
    creating tasks."""
    found = {}
    for name in ImportRow.COLUMNS:
        value = values.get(name)
        found[name] = value.strip() if isinstance(value, str) else value
    return found


def _header(cells) -> list[str]:
    fields = [str(c).strip().lower().lstrip("\ufeff") if c is not None else "" for c in cells]
    if "description" not in fields:
        raise ImportFileError(
            "The file needs a header row with a 'description' column (and optionally "
            "'external_id', 'priority', 'skill', 'max_handle_seconds', 'expires_at', "
            "'reviews_required'); "
            "download the template to start from."
        )
    return fields


def _delimiter(line: str) -> str:
    """The delimiter of a header line: the most frequent of comma, semicolon and tab
    outside quotes (a one-column file has none: comma)."""
    outside, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(ch)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _too_many(line: int) -> dict[int, list[str]]:
    return {line: [f"At most {settings.QC_MAX_IMPORT_ROWS} rows in one import."]}


def _parse_csv(stream) -> ParsedFile:
    """Rows of a CSV text stream; UnicodeDecodeError goes to the caller."""
    line = 1  # the line being read, for the messages
    try:
        first = stream.readline()
        # Excel's "sep=;" line names the delimiter.
        if first.strip().lower().startswith("sep=") and len(first.strip()) == 5:
            delimiter = first.strip()[4]
            first = stream.readline()
            line = 2
        else:
            delimiter = _delimiter(first)
        header = next(csv.reader([first], delimiter=delimiter), [])
        fields = _header(header)
        header_lines = line
        reader = csv.reader(stream, delimiter=delimiter)
        rows, errors = [], {}
        for record in reader:
            line = header_lines + reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines, as spreadsheets leave at the end
            if len(rows) + len(errors) >= settings.QC_MAX_IMPORT_ROWS:
                errors.update(_too_many(line))  # the rest is not read
                break
            row = _row(line, dict(zip(fields, record, strict=False)), errors)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        raise ImportFileError(f"The CSV file is malformed near line {line}: {exc}") from exc
    return ParsedFile(rows=rows, errors=errors, delimiter=delimiter)


class _JSONNumber(str):
    """A JSON number, kept as its text: never converted (a 5,000-digit number costs
    nothing), and never taken for text."""


def _parse_json(text: str) -> ParsedFile:
    try:
        data = json.loads(
            text,
            parse_int=_JSONNumber,
            parse_float=_JSONNumber,
            parse_constant=_JSONNumber,
        )
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ImportFileError(f"The JSON file is malformed: {exc}") from exc
    if not isinstance(data, list):
        raise ImportFileError("The JSON file must hold a list of objects.")
    rows, errors = [], {}
    if len(data) > settings.QC_MAX_IMPORT_ROWS:
        return ParsedFile(rows=[], errors=_too_many(settings.QC_MAX_IMPORT_ROWS + 1))
    for position, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            errors[position] = ['Each item must be an object like {"description": "…"}.']
            continue
        row = _row(position, item, errors)
        if row is not None:
            rows.append(row)
    return ParsedFile(rows=rows, errors=errors)


def _parse_xlsx(upload) -> ParsedFile:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    upload.seek(0)
    try:
        # Read-only mode streams the sheet's XML: memory stays flat however many rows.
        book = load_workbook(upload, read_only=True, data_only=True)
    except (BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError("The file is not a readable Excel workbook (.xlsx).") from exc
    try:
        sheet = book.worksheets[0]
        rows_iter = sheet.iter_rows(values_only=True)
        header = next(rows_iter, None)
        fields = _header(header or [])
        rows, errors = [], {}
        limit = settings.QC_MAX_IMPORT_ROWS
        for line, cells in enumerate(rows_iter, start=2):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            if len(rows) + len(errors) >= limit:
                errors.update(_too_many(line))  # the rest is not read
                break
            row = _row(line, dict(zip(fields, cells, strict=False)), errors, numbers_as_text=True)
            if row is not None:
                rows.append(row)
    finally:
        book.close()
    return ParsedFile(rows=rows, errors=errors)


# --- the template ---


# description, external_id, priority, skill, max_handle_seconds, expires_at (blank here: a
# date in a template would pass one day, and the template would stop importing),
# reviews_required.
TEMPLATE_ROWS = [
    (
        "Inspect weld seams on frame batch F-2291: 5 of 120 units",
        "F-2291-weld",
        5,
        "welding",
        "",
        "",
        2,
    ),
    ("Measure bore diameter of pump housings, lot B-3301", "", "", "", 1800, "", ""),
]


def template_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(TEMPLATE_ROWS)
    return out.getvalue().encode("utf-8-sig")  # the BOM tells Excel it is UTF-8


def template_xlsx() -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Tasks"
    sheet.append(COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in TEMPLATE_ROWS:
        sheet.append([value if value != "" else None for value in row])
    sheet.column_dimensions["A"].width = 70
    sheet.column_dimensions["B"].width = 24
    sheet.column_dimensions["F"].width = 24
    # external_id as text, so that 00123 stays 00123.
    for row in sheet.iter_rows(min_row=2, max_row=1000, min_col=2, max_col=2):
        for cell in row:
            cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- the import waiting for confirmation ---


def import_stage(*, user, file_name: str, rows: list[ImportRow]) -> PendingImport:
    """Keep checked rows until `user` confirms them (for QC_IMPORT_PENDING_MINUTES): the
    user's earlier pending import and everyone's expired ones are deleted. Returns the
    pending import; its `token` goes into the confirmation form."""
    expires = timezone.now() + timedelta(minutes=settings.QC_IMPORT_PENDING_MINUTES)
    with transaction.atomic():
        PendingImport.objects.filter(Q(user=user) | Q(expires_at__lt=Now())).delete()
        pending = PendingImport.objects.create(
            user=user,
            token=secrets.token_urlsafe(24),
            file_name=file_name[:255],
            row_count=len(rows),
            expires_at=expires,
        )
        PendingImportChunk.objects.bulk_create(
            [
                PendingImportChunk(
                    pending=pending,
                    seq=seq,
                    data=zlib.compress(
                        json.dumps([_stored(r) for r in rows[start:stop]]).encode(),
                        level=1,
                    ),
                )
                for seq, (start, stop) in enumerate(
                    (i, i + CHUNK_ROWS) for i in range(0, max(len(rows), 1), CHUNK_ROWS)
                )
            ]
        )
    return pending


def _stored(row: ImportRow) -> list:
    """A checked row as the pending import keeps it (JSON): its routing values as the file
    gave them, a spreadsheet's date as ISO 8601 text, checked again at confirmation."""
    routed = [getattr(row, name) for name in ImportRow.COLUMNS]
    routed = [v.isoformat() if hasattr(v, "isoformat") else v for v in routed]
    return [row.line, row.description, row.external_id, *routed]


def import_confirm(*, user, token: str):
    """Import `user`'s pending import with this token (`services.task_import`) and delete
    it, in one transaction: a failed import leaves it to confirm again, and of two
    confirmations at once (a double click) one imports and the other finds nothing.

    Returns (file name, ImportResult). Raises DomainError when there is no such pending
    import (another supervisor's, expired, or already confirmed), and what the import
    service raises.
    """
    with transaction.atomic():
        # Locks the pending import (a table of its own, outside the engine's lock order).
        pending = (
            PendingImport.objects.select_for_update()
            .filter(user=user, token=token, expires_at__gte=Now())
            .first()
        )
        if pending is None:
            raise DomainError("That import expired; upload the file again.", code="expired")
        rows = [
            ImportRow(
                line=line,
                description=description,
                external_id=external_id,
                # A pending import checked before a column was added has fewer values.
                **dict(zip(ImportRow.COLUMNS, routed, strict=False)),
            )
            for chunk in pending.chunks.order_by("seq").values_list("data", flat=True)
            for line, description, external_id, *routed in json.loads(zlib.decompress(chunk))
        ]
        result = services.task_import(actor=user, rows=rows)
        name = pending.file_name
        pending.delete()
    return name, result

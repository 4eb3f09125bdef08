"""Reading task import files (CSV with a header, or a JSON list) into `ImportRow`s.

Parsing only: validation of the rows is `services.task_import_validate`, writing is
`services.task_import`.
"""

import csv
import io
import json

from qcproject.exceptions import DomainError

from .services import ImportRow

MAX_FILE_BYTES = 50 * 1024 * 1024


def parse_import_file(name: str, data: bytes) -> list[ImportRow]:
    """Rows of a CSV (columns `description`, optional `external_id`, `priority`, `skill`,
    `max_handle_seconds`, `expires_at`) or JSON file (a list of objects with those keys).
    Line numbers are the file's (CSV) or 1-based positions (JSON).

    Raises DomainError when the file as a whole cannot be read.
    """
    if len(data) > MAX_FILE_BYTES:
        raise DomainError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DomainError("The file is not UTF-8 text.") from exc
    if name.lower().endswith(".json") or text.lstrip().startswith("["):
        return _parse_json(text)
    return _parse_csv(text)


def _clean(value) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _routing(record: dict) -> dict:
    """The routing columns or keys (priority, skill, max_handle_seconds, expires_at) as
    the file gives them: text from a CSV cell (stripped), a JSON value as it is. The import
    validation reads them."""
    found = {}
    for name in ImportRow.ROUTING:
        value = record.get(name)
        found[name] = value.strip() if isinstance(value, str) else value
    return found


def _parse_csv(text: str) -> list[ImportRow]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "description" not in fields:
        raise DomainError("The CSV file needs a header row with a 'description' column.")
    reader.fieldnames = fields
    rows = []
    try:
        for record in reader:
            rows.append(
                ImportRow(
                    line=reader.line_num,
                    description=_clean(record.get("description")) or "",
                    external_id=_clean(record.get("external_id")),
                    **_routing(record),
                )
            )
    except csv.Error as exc:
        raise DomainError(f"The CSV file is malformed near line {reader.line_num}: {exc}") from exc
    return rows


def _parse_json(text: str) -> list[ImportRow]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DomainError(f"The JSON file is malformed: {exc}") from exc
    if not isinstance(data, list):
        raise DomainError("The JSON file must hold a list of objects.")
    rows = []
    for position, item in enumerate(data, start=1):
        if isinstance(item, dict):
            description = item.get("description")
            rows.append(
                ImportRow(
                    line=position,
                    description=_clean(description) if isinstance(description, str) else "",
                    external_id=_clean(item.get("external_id")),
                    **_routing(item),
                )
            )
        else:
            rows.append(ImportRow(line=position, description=""))
    return rows

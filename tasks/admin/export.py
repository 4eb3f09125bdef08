"""The assignment history as CSV, and the reviews with their tasks' results (one row per
review), each filtered as on the admin's list page of assignments, streamed.

Timestamps are in the site's time zone (TIME_ZONE) with their UTC offset, so a reader
never has to guess the zone. Text cells that a spreadsheet would run as a formula are
neutralised.
"""

import csv
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.utils import timezone

from tasks.models import EndReason

HEADER = [
    "assignment_id",
    "task_id",
    "task_description",
    "person_id",
    "person_name",
    "source",
    "assigned_at",
    "completed_at",
    "ended_at",
    "end_reason",
    "decline_reason",
]
_COLUMNS = [
    "id",
    "task_id",
    "task__description",
    "person_id",
    "person__name",
    "source",
    "assigned_at",
    "completed_at",
    "ended_at",
    "end_reason",
    "decline_reason",
]


# The results: one row per review (a completed assignment) with its task's outcome.
RESULTS_HEADER = [
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
_RESULTS_COLUMNS = [
    "task_id",
    "task__external_id",
    "task__status",
    "task__outcome",
    "task__reviews_required",
    "task__reviews_done",
    "task__resolution_note",
    "person_id",
    "person__name",
    "outcome",
    "defects",
    "notes",
    "assigned_at",
    "completed_at",
]
_DEFECTS = _RESULTS_COLUMNS.index("defects")
# Rows read per query of the results export.
RESULTS_CHUNK = 2000


# What starts a formula in Excel, LibreOffice and Google Sheets (with tab and carriage
# return, which some of them skip before looking): such a cell gets a leading apostrophe,
# which spreadsheets show as text and do not display.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """One value as a CSV cell: datetimes in the site's zone with their offset, text that
    could run as a formula made inert."""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """A file that hands back what is written to it: csv.writer makes each line for us."""

    def write(self, value):
        return value


def export_view(model_admin, request):
    if not request.user.has_perm("tasks.export_assignments"):
        raise PermissionDenied
    changelist = model_admin.get_changelist_instance(request)
    rows = (
        changelist.get_queryset(request).select_related(None).order_by("id").values_list(*_COLUMNS)
    )
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(HEADER)
        for row in rows.iterator(chunk_size=2000):
            yield writer.writerow([cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="assignments.csv"'
    return response


def results_export_view(model_admin, request):
    """The reviews of the assignments the list page shows (its filters and search), with
    their tasks' outcomes. Read in chunks by key (`id > last`), each a query of its own, so
    neither the server nor the database client holds more than a chunk however long the
    history."""
    if not request.user.has_perm("tasks.export_assignments"):
        raise PermissionDenied
    changelist = model_admin.get_changelist_instance(request)
    reviews = (
        changelist.get_queryset(request)
        .select_related(None)
        .filter(end_reason=EndReason.COMPLETED)
        .order_by("id")
    )
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(RESULTS_HEADER)
        last = 0
        while True:
            chunk = list(
                reviews.filter(id__gt=last).values_list("id", *_RESULTS_COLUMNS)[:RESULTS_CHUNK]
            )
            for _id, *row in chunk:
                row[_DEFECTS] = ";".join(row[_DEFECTS] or ())
                yield writer.writerow([cell(value) for value in row])
            if len(chunk) < RESULTS_CHUNK:
                return
            last = chunk[-1][0]

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="results.csv"'
    return response

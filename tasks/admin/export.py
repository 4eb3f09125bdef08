"""The assignment history as CSV, filtered as on the admin's list page, streamed.

Timestamps are in the site's time zone (TIME_ZONE) with their UTC offset, so a reader
never has to guess the zone. Text cells that a spreadsheet would run as a formula are
neutralised.
"""

import csv
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.utils import timezone

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

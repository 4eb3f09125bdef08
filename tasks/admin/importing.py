"""The task import wizard: upload a file, see a preview with per-row errors, confirm; and
the template to start from.

Reading files and keeping a checked import are `tasks.importing`; validation and writing
are the import services.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from qcproject.exceptions import DomainError
from tasks import importing, services

IMPORT_PREVIEW_ROWS = 50
TEMPLATES = {
    "csv": ("text/csv; charset=utf-8", importing.template_csv),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        importing.template_xlsx,
    ),
}


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "An Excel workbook (.xlsx, first sheet), a CSV file (comma, semicolon or tab "
            "separated) with a header row, or a JSON list of objects like "
            '{"description": "…", "priority": 5, "skill": "welding"}. Columns: description, '
            "and optionally external_id, priority (0–9), skill, max_handle_seconds, "
            "expires_at (a date and time; without a zone, the site's) and reviews_required "
            "(1–5, the different people who review it); a task whose external_id was "
            "imported before is skipped."
        ),
    )
    encoding = forms.ChoiceField(
        choices=list(importing.ENCODINGS.items()),
        initial="utf-8",
        required=False,
        widget=forms.RadioSelect,
        label=gettext_lazy("Encoding"),
        help_text=gettext_lazy("For CSV and JSON files. Excel workbooks need no choice."),
    )


def _check(request):
    if not request.user.has_perm("tasks.import_tasks"):
        raise PermissionDenied


def import_view(model_admin, request):
    _check(request)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": _("Import tasks"),
        "form": ImportForm(),
        "max_rows": settings.QC_MAX_IMPORT_ROWS,
        "max_size": importing.max_bytes_text(),
    }
    if request.method == "POST" and "confirm" in request.POST:
        return _import_confirm(model_admin, request)
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        context["form"] = form
        valid = form.is_valid()
        if getattr(request, "upload_too_large", False):
            # Refused while it arrived (importing.UploadSizeLimit): never read, never kept.
            form.errors["file"] = form.error_class(
                [
                    _("The file is larger than %(size)s; split it.")
                    % {"size": importing.max_bytes_text()}
                ]
            )
        elif valid:
            _preview(request, form, context)
    return TemplateResponse(request, "admin/tasks/task/import.html", context)


def _preview(request, form, context) -> None:
    upload = form.cleaned_data["file"]
    try:
        parsed = importing.parse_import_file(
            upload, encoding=form.cleaned_data["encoding"] or "utf-8"
        )
    except DomainError as exc:
        form.add_error("file", exc.message)
        return
    errors = services.task_import_validate(parsed.rows) if parsed.rows else {}
    for line, problems in parsed.errors.items():
        errors.setdefault(line, []).extend(problems)
    if not parsed.rows and not parsed.errors:
        errors[0] = [_("The file has no tasks.")]
    row_count = len(parsed.rows) + len(parsed.errors)
    context.update(
        file_name=upload.name,
        row_count=row_count,
        delimiter=importing.DELIMITERS.get(parsed.delimiter, ""),
        preview=parsed.rows[:IMPORT_PREVIEW_ROWS],
        errors=sorted(errors.items()),
        error_count=len(errors),
    )
    if not errors:
        pending = importing.import_stage(user=request.user, file_name=upload.name, rows=parsed.rows)
        context["token"] = pending.token
        context["expires_minutes"] = settings.QC_IMPORT_PENDING_MINUTES


def _import_confirm(model_admin, request):
    try:
        name, result = importing.import_confirm(
            user=request.user, token=request.POST.get("token", "")
        )
    except DomainError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:tasks_task_import"))
    created, skipped = len(result.created), len(result.skipped)
    text = ngettext(
        "Imported %(count)s task from %(file)s.", "Imported %(count)s tasks from %(file)s.", created
    ) % {"count": created, "file": name}
    if skipped:
        text += " " + ngettext(
            "%(count)s task was imported before and is skipped.",
            "%(count)s tasks were imported before and are skipped.",
            skipped,
        ) % {"count": skipped}
    model_admin.message_user(request, text, messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:tasks_task_changelist"))


def import_template_view(model_admin, request, kind: str):
    """The file to start an import from: the header row and two example rows."""
    _check(request)
    if kind not in TEMPLATES:
        raise Http404
    content_type, make = TEMPLATES[kind]
    response = HttpResponse(make(), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="qc-tasks-template.{kind}"'
    return response

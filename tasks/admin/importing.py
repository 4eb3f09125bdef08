"""The task import wizard: upload a file, see a preview with per-row errors, confirm.

Parsing is `tasks.importing`, validation and writing are the import services.
"""

import secrets

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from qcproject.exceptions import DomainError
from tasks import services
from tasks.importing import parse_import_file

IMPORT_PREVIEW_ROWS = 50
IMPORT_SESSION_KEY = "qc_task_import"


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row (columns: description, external_id, priority, "
        "skill, max_handle_seconds, expires_at) or a JSON list of objects with those keys, "
        'like {"description": "…", "priority": 5, "skill": "welding"}. Only description is '
        "required; a task whose external_id was imported before is skipped; expires_at is "
        "ISO 8601 (UTC unless a zone is given)."
    )


def import_view(model_admin, request):
    if not request.user.has_perm("tasks.import_tasks"):
        raise PermissionDenied
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Import tasks",
        "form": ImportForm(),
    }
    if request.method == "POST" and "confirm" in request.POST:
        return _import_confirm(model_admin, request)
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        context["form"] = form
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                rows = parse_import_file(upload.name, upload.read())
            except DomainError as exc:
                form.add_error("file", exc.message)
            else:
                errors = services.task_import_validate(rows)
                context.update(
                    file_name=upload.name,
                    row_count=len(rows),
                    preview=rows[:IMPORT_PREVIEW_ROWS],
                    errors=sorted(errors.items()),
                    error_count=len(errors),
                )
                if not errors:
                    token = secrets.token_urlsafe(16)
                    request.session[IMPORT_SESSION_KEY] = {
                        "token": token,
                        "name": upload.name,
                        "rows": [
                            [r.line, r.description, r.external_id]
                            + [getattr(r, name) for name in services.ImportRow.ROUTING]
                            for r in rows
                        ],
                    }
                    context["token"] = token
    return TemplateResponse(request, "admin/tasks/task/import.html", context)


def _import_confirm(model_admin, request):
    pending = request.session.get(IMPORT_SESSION_KEY)
    if not pending or pending.get("token") != request.POST.get("token"):
        model_admin.message_user(
            request, "That import expired; upload the file again.", messages.ERROR
        )
        return HttpResponseRedirect(reverse("admin:tasks_task_import"))
    rows = [
        services.ImportRow(
            line=line,
            description=description,
            external_id=external_id,
            **dict(zip(services.ImportRow.ROUTING, routed, strict=False)),
        )
        for line, description, external_id, *routed in pending["rows"]
    ]
    try:
        result = services.task_import(actor=request.user, rows=rows)
    except DomainError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:tasks_task_import"))
    del request.session[IMPORT_SESSION_KEY]
    model_admin.message_user(
        request,
        f"Imported {len(result.created)} tasks from {pending['name']}"
        + (f"; {len(result.skipped)} were already imported." if result.skipped else "."),
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:tasks_task_changelist"))

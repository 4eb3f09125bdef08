import csv
import secrets

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from personnel.models import Person
from qcproject.admin_mixins import ReadOnlyAdminMixin
from qcproject.exceptions import DomainError

from . import selectors, services
from .importing import parse_import_file
from .models import AssignerInstance, Assignment, AuditEvent, Task, TaskStatus
from .services import MAX_DESCRIPTION_LENGTH

IMPORT_PREVIEW_ROWS = 50
IMPORT_SESSION_KEY = "qc_task_import"


def can_intervene(request) -> bool:
    return request.user.has_perm("tasks.intervene")


def back_to(request, default: str) -> HttpResponseRedirect:
    """Redirect to the page the intervention came from (`next`, this site only)."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)


def free_people():
    """Signed-in people without a task: the choices for a reassignment."""
    return Person.objects.filter(is_logged_in=True, is_busy=False).order_by("name", "id")


# intervention name -> (service, what it did)
TASK_INTERVENTIONS = {
    "release": (services.task_release, "is back in the queue"),
    "cancel": (services.task_cancel, "is cancelled"),
    "reassign": (services.task_reassign, "is reassigned"),
}


def intervene_on_task(model_admin, request, intervention: str, task_id: int, **kwargs) -> None:
    """Run one intervention service on a task; tell the supervisor how it went."""
    service, outcome = TASK_INTERVENTIONS[intervention]
    try:
        service(actor=request.user, task_id=task_id, **kwargs)
    except DomainError as exc:
        model_admin.message_user(request, f"Task {task_id}: {exc.message}", messages.ERROR)
    else:
        model_admin.message_user(request, f"Task {task_id} {outcome}.", messages.SUCCESS)


class TaskAddForm(forms.ModelForm):
    descriptions = forms.CharField(
        label="Descriptions",
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
        help_text="One task per line; blank lines are ignored. One line makes one task.",
    )

    class Meta:
        model = Task
        fields = []

    def clean_descriptions(self):
        lines = [line.strip() for line in self.cleaned_data["descriptions"].splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise ValidationError("Give at least one description.")
        if len(lines) > settings.QC_MAX_BULK_TASKS:
            raise ValidationError(
                f"At most {settings.QC_MAX_BULK_TASKS} tasks at once; use Import for more."
            )
        if any(len(line) > MAX_DESCRIPTION_LENGTH for line in lines):
            raise ValidationError(f"A line is longer than {MAX_DESCRIPTION_LENGTH} characters.")
        return lines


class TaskActionForm(helpers.ActionForm):
    person = forms.ModelChoiceField(
        queryset=Person.objects.none(),
        required=False,
        label="Reassign to",
        empty_label="(a free person)",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = free_people()


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row (columns: description, external_id) or a JSON list "
        'of objects like {"description": "…", "external_id": "…"}. external_id is optional; '
        "a task whose external_id was imported before is skipped."
    )


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "short_description", "status", "assigned_to", "created_at"]
    list_filter = ["status", ("assigned_to", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["description", "assigned_to__name", "=id", "=external_id"]
    date_hierarchy = "created_at"
    list_select_related = ["assigned_to"]
    readonly_fields = ["status", "assigned_to", "created_at", "first_assigned_at", "external_id"]
    fields = ["description", *readonly_fields]
    show_full_result_count = False
    action_form = TaskActionForm
    actions = ["release_selected", "cancel_selected", "reassign_selected"]
    change_form_template = "admin/tasks/task/change_form.html"
    change_list_template = "admin/tasks/task/change_list.html"

    def has_delete_permission(self, request, obj=None):
        return False  # tasks are history: cancel instead

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TaskAddForm
            kwargs["fields"] = ["descriptions"]
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["descriptions"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="Description")
    def short_description(self, obj):
        return obj.description if len(obj.description) <= 80 else obj.description[:79] + "…"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.task_create(descriptions=form.cleaned_data["descriptions"])
        obj.pk = created[0].pk
        obj.description = created[0].description
        request.qc_created = len(created)

    def response_add(self, request, obj, post_url_continue=None):
        count = getattr(request, "qc_created", 1)
        self.message_user(
            request, f"Created {count} task{'s' if count != 1 else ''}.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:tasks_task_changelist"))

    # --- interventions: list actions ---

    @admin.action(
        description="Put selected in-progress tasks back in the queue", permissions=["intervene"]
    )
    def release_selected(self, request, queryset):
        for task_id in queryset.order_by("id").values_list("id", flat=True):
            intervene_on_task(self, request, "release", task_id)

    @admin.action(description="Cancel selected tasks", permissions=["intervene"])
    def cancel_selected(self, request, queryset):
        for task_id in queryset.order_by("id").values_list("id", flat=True):
            intervene_on_task(self, request, "cancel", task_id)

    @admin.action(
        description="Reassign the selected task to the person chosen below",
        permissions=["intervene"],
    )
    def reassign_selected(self, request, queryset):
        person_id = request.POST.get("person", "")
        if not person_id.isdigit():
            self.message_user(request, "Choose a free person to reassign to.", messages.ERROR)
            return
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one task to reassign.", messages.ERROR)
            return
        intervene_on_task(self, request, "reassign", queryset.get().pk, person_id=int(person_id))

    def has_intervene_permission(self, request):
        return can_intervene(request)

    # --- interventions: buttons on the detail page, import, dashboard ---

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="tasks_dashboard"),
            path("import/", wrap(self.import_view), name="tasks_task_import"),
            *(
                path(
                    f"<int:object_id>/{name}/",
                    wrap(self.intervention_view),
                    {"intervention": name},
                    name=f"tasks_task_{name}",
                )
                for name in TASK_INTERVENTIONS
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_intervene": can_intervene(request),
            "free_people": free_people(),
            "open_statuses": [TaskStatus.PENDING, TaskStatus.IN_PROGRESS],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def intervention_view(self, request, object_id: int, intervention: str):
        change_url = reverse("admin:tasks_task_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        if not can_intervene(request):
            raise PermissionDenied
        task = get_object_or_404(Task, pk=object_id)
        kwargs = {}
        if intervention == "reassign":
            person_id = request.POST.get("person", "")
            if not person_id.isdigit():
                self.message_user(request, "Choose a free person to reassign to.", messages.ERROR)
                return back_to(request, change_url)
            kwargs["person_id"] = int(person_id)
        intervene_on_task(self, request, intervention, task.pk, **kwargs)
        return back_to(request, change_url)

    def import_view(self, request):
        if not request.user.has_perm("tasks.import_tasks"):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import tasks",
            "form": ImportForm(),
        }
        if request.method == "POST" and "confirm" in request.POST:
            return self._import_confirm(request)
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
                            "rows": [[r.line, r.description, r.external_id] for r in rows],
                        }
                        context["token"] = token
        return TemplateResponse(request, "admin/tasks/task/import.html", context)

    def _import_confirm(self, request):
        pending = request.session.get(IMPORT_SESSION_KEY)
        if not pending or pending.get("token") != request.POST.get("token"):
            self.message_user(
                request, "That import expired; upload the file again.", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:tasks_task_import"))
        rows = [
            services.ImportRow(line=line, description=description, external_id=external_id)
            for line, description, external_id in pending["rows"]
        ]
        try:
            result = services.task_import(actor=request.user, rows=rows)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:tasks_task_import"))
        del request.session[IMPORT_SESSION_KEY]
        self.message_user(
            request,
            f"Imported {len(result.created)} tasks from {pending['name']}"
            + (f"; {len(result.skipped)} were already imported." if result.skipped else "."),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:tasks_task_changelist"))

    def dashboard_view(self, request):
        if not request.user.has_perm("tasks.view_dashboard"):
            raise PermissionDenied
        window = request.GET.get("window", "hour")
        if window not in selectors.WINDOWS:
            window = "hour"
        dashboard = selectors.dashboard_get(window=window)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Supervisor dashboard",
            "d": dashboard,
            "windows": [(key, label) for key, (label, _) in selectors.WINDOWS.items()],
            "refresh_seconds": 15,
            "can_intervene": can_intervene(request),
        }
        return TemplateResponse(request, "admin/tasks/dashboard.html", context)


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "task",
        "person",
        "source",
        "assigned_at",
        "completed_at",
        "ended_at",
        "end_reason",
    ]
    list_filter = [
        "end_reason",
        "source",
        ("person", admin.RelatedOnlyFieldListFilter),
        "assigned_at",
    ]
    search_fields = ["task__description", "person__name", "=task__id"]
    date_hierarchy = "assigned_at"
    list_select_related = ["task", "person"]
    show_full_result_count = False
    change_list_template = "admin/tasks/assignment/change_list.html"

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="tasks_assignment_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """The assignment history, filtered as on the list page, as CSV (streamed)."""
        if not request.user.has_perm("tasks.export_assignments"):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = (
            changelist.get_queryset(request)
            .select_related(None)
            .order_by("id")
            .values_list(
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
            )
        )
        header = [
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
        ]
        writer = csv.writer(_Echo())

        def lines():
            yield writer.writerow(header)
            for row in rows.iterator(chunk_size=2000):
                yield writer.writerow(
                    [value.isoformat() if hasattr(value, "isoformat") else value for value in row]
                )

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="assignments.csv"'
        return response


class _Echo:
    def write(self, value):
        return value


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "actor_username", "action", "person", "task_link", "detail"]
    list_filter = ["action", "actor_username", "at"]
    search_fields = ["actor_username", "person__name", "=task__id", "detail"]
    date_hierarchy = "at"
    list_select_related = ["person", "task"]

    @admin.display(description="Task")
    def task_link(self, obj):
        if obj.task_id is None:
            return "—"
        url = reverse("admin:tasks_task_change", args=[obj.task_id])
        return format_html('<a href="{}">#{}</a>', url, obj.task_id)


@admin.register(AssignerInstance)
class AssignerInstanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "started_at",
        "last_cycle_at",
        "last_cycle_seconds",
        "cycles",
        "assigned_total",
        "released_total",
    ]

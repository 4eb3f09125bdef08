"""Tasks in the admin: the list with its interventions, adding tasks one per line, and the
task's page with its intervention buttons."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from personnel.models import Person
from qcproject.admin_mixins import back_to
from qcproject.exceptions import DomainError
from tasks import services
from tasks.models import Task, TaskStatus

from .dashboard import dashboard_data_view, dashboard_view
from .importing import import_template_view, import_view
from .interventions import TASK_INTERVENTIONS, can_intervene, free_people, intervene_on_task


class TaskAddForm(forms.ModelForm):
    descriptions = forms.CharField(
        label=gettext_lazy("Descriptions"),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
        help_text=gettext_lazy(
            "One task per line; blank lines are ignored. One line makes one task."
        ),
    )

    class Meta:
        model = Task
        fields = []

    def clean_descriptions(self):
        lines = [line for line in self.cleaned_data["descriptions"].splitlines() if line.strip()]
        try:
            return services.task_descriptions_clean(lines)
        except DomainError as exc:
            hint = " " + _("Use Import for more.") if exc.code == "too_many_tasks" else ""
            raise ValidationError(exc.message + hint) from exc


class TaskActionForm(helpers.ActionForm):
    person = forms.ModelChoiceField(
        queryset=Person.objects.none(),
        required=False,
        label=gettext_lazy("Reassign to"),
        empty_label=gettext_lazy("(a free person)"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = free_people()


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

    @admin.display(description=gettext_lazy("description"))
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
            request,
            ngettext("Created %(count)s task.", "Created %(count)s tasks.", count)
            % {"count": count},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:tasks_task_changelist"))

    # --- interventions: list actions ---

    @admin.action(
        description=gettext_lazy("Put selected in-progress tasks back in the queue"),
        permissions=["intervene"],
    )
    def release_selected(self, request, queryset):
        for task_id in queryset.order_by("id").values_list("id", flat=True):
            intervene_on_task(self, request, "release", task_id)

    @admin.action(description=gettext_lazy("Cancel selected tasks"), permissions=["intervene"])
    def cancel_selected(self, request, queryset):
        for task_id in queryset.order_by("id").values_list("id", flat=True):
            intervene_on_task(self, request, "cancel", task_id)

    @admin.action(
        description=gettext_lazy("Reassign the selected task to the person chosen below"),
        permissions=["intervene"],
    )
    def reassign_selected(self, request, queryset):
        person_id = request.POST.get("person", "")
        if not person_id.isdigit():
            self.message_user(request, _("Choose a free person to reassign to."), messages.ERROR)
            return
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one task to reassign."), messages.ERROR)
            return
        intervene_on_task(self, request, "reassign", queryset.get().pk, person_id=int(person_id))

    def has_intervene_permission(self, request):
        return can_intervene(request)

    # --- interventions: buttons on the detail page, import, dashboard ---

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="tasks_dashboard"),
            path("dashboard/data/", wrap(self.dashboard_data_view), name="tasks_dashboard_data"),
            path("import/", wrap(self.import_view), name="tasks_task_import"),
            path(
                "import/template.<str:kind>",
                wrap(self.import_template_view),
                name="tasks_task_import_template",
            ),
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
                self.message_user(
                    request, _("Choose a free person to reassign to."), messages.ERROR
                )
                return back_to(request, change_url)
            kwargs["person_id"] = int(person_id)
        intervene_on_task(self, request, intervention, task.pk, **kwargs)
        return back_to(request, change_url)

    def import_view(self, request):
        return import_view(self, request)

    def import_template_view(self, request, kind):
        return import_template_view(self, request, kind)

    def dashboard_view(self, request):
        return dashboard_view(self, request)

    def dashboard_data_view(self, request):
        return dashboard_data_view(self, request)

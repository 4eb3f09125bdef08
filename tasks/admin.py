from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse

from qcproject.admin_mixins import ReadOnlyAdminMixin
from qcproject.exceptions import DomainError

from . import services
from .models import Assignment, Task


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
        return lines


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "short_description", "status", "assigned_to", "created_at"]
    list_filter = ["status", ("assigned_to", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["description", "assigned_to__name", "=id"]
    date_hierarchy = "created_at"
    list_select_related = ["assigned_to"]
    readonly_fields = ["status", "assigned_to", "created_at"]
    fields = ["description", "status", "assigned_to", "created_at"]
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False  # tasks are history; nothing is deleted

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
        try:
            created = services.task_create(descriptions=form.cleaned_data["descriptions"])
        except DomainError as exc:
            raise ValidationError(exc.message) from exc
        obj.pk = created[0].pk
        obj.description = created[0].description
        self._created = len(created)

    def response_add(self, request, obj, post_url_continue=None):
        count = getattr(self, "_created", 1)
        self.message_user(
            request, f"Created {count} task{'s' if count != 1 else ''}.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:tasks_task_changelist"))


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

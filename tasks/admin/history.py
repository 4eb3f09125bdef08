"""The history the engine writes, read-only in the admin: assignments (with the CSV
export), the supervisors' audit trail, the assigner processes."""

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from qcproject.admin_mixins import ReadOnlyAdminMixin
from tasks.models import AssignerInstance, Assignment, AuditEvent

from .export import export_view


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
        "decline_reason",
    ]
    list_filter = [
        "end_reason",
        "source",
        ("person", admin.RelatedOnlyFieldListFilter),
        "assigned_at",
    ]
    search_fields = ["task__description", "person__name", "=task__id", "decline_reason"]
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
        return export_view(self, request)


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

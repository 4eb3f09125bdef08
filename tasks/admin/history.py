"""The history the engine writes, read-only in the admin: assignments (with the CSV
export), the supervisors' audit trail, the assigner processes."""

from django.contrib import admin
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from qcproject.admin_mixins import ReadOnlyAdminMixin
from tasks.models import AssignerInstance, Assignment, AuditEvent

from .export import export_view


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Fits a 1280 px screen beside the filters: the task as its number and the start of
    # its description, times without the year, the end as one column (a completion's end
    # is its completion time).
    list_display = ["assigned", "task_short", "person", "source", "ended", "end_reason"]
    list_display_links = ["assigned"]
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

    @admin.display(description="Task", ordering="task_id")
    def task_short(self, obj):
        text = obj.task.description
        text = text if len(text) <= 48 else text[:47] + "…"
        url = reverse("admin:tasks_task_change", args=[obj.task_id])
        return format_html('<a href="{}">#{}</a> {}', url, obj.task_id, text)

    @admin.display(description="Assigned", ordering="assigned_at")
    def assigned(self, obj):
        return _when(obj.assigned_at)

    @admin.display(description="Ended", ordering="ended_at")
    def ended(self, obj):
        return _when(obj.ended_at)

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


def _when(moment) -> str:
    """A time in the site's zone, short (month, day, hours, minutes); the exact time in
    the element's `datetime` and on the assignment's page."""
    if moment is None:
        return "—"
    return format_html(
        '<time datetime="{}">{}</time>',
        moment.isoformat(),
        timezone.localtime(moment).strftime("%b %d %H:%M"),
    )


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

"""The history the engine writes, read-only in the admin: assignments (with the CSV
export), the supervisors' audit trail, the assigner processes."""

from django.contrib import admin
from django.template.defaultfilters import floatformat
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

from qcproject.admin_mixins import ReadOnlyAdminMixin
from tasks.models import AssignerInstance, Assignment, AuditEvent, EndReason

from .export import export_view, results_export_view


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Fits a 1280 px screen beside the filters: the task as its number and the start of
    # its description, times without the year, the end as one column (a completion's end
    # is its completion time), a decline's reason with its end reason, and so a review
    # (verdict, defect codes, the start of the notes) with its end, "Completed".
    list_display = ["assigned", "task_short", "person", "source", "ended", "end"]
    list_display_links = ["assigned"]
    list_filter = [
        "end_reason",
        "outcome",
        "source",
        ("person", admin.RelatedOnlyFieldListFilter),
        "assigned_at",
    ]
    search_fields = ["task__description", "person__name", "=task__id", "decline_reason", "notes"]
    date_hierarchy = "assigned_at"
    list_select_related = ["task", "person"]
    show_full_result_count = False
    change_list_template = "admin/tasks/assignment/change_list.html"

    @admin.display(description=_("task"), ordering="task_id")
    def task_short(self, obj):
        text = obj.task.description
        text = text if len(text) <= 48 else text[:47] + "…"
        url = reverse("admin:tasks_task_change", args=[obj.task_id])
        return format_html('<a href="{}">#{}</a> {}', url, obj.task_id, text)

    @admin.display(
        description=pgettext_lazy("when an assignment began", "assigned"), ordering="assigned_at"
    )
    def assigned(self, obj):
        return _when(obj.assigned_at)

    @admin.display(description=_("ended"), ordering="ended_at")
    def ended(self, obj):
        return _when(obj.ended_at)

    @admin.display(description=_("end reason"), ordering="end_reason")
    def end(self, obj):
        label = obj.get_end_reason_display() or "—"
        if obj.end_reason == EndReason.COMPLETED and (obj.outcome or obj.defects or obj.notes):
            return format_html("{}: {}", label, _review(obj))
        if not obj.decline_reason:
            return label
        text = obj.decline_reason
        text = text if len(text) <= 40 else text[:39] + "…"
        return format_html("{}: <q>{}</q>", label, text)

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="tasks_assignment_export",
            ),
            path(
                "results/",
                self.admin_site.admin_view(self.results_export_view),
                name="tasks_assignment_results_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request):
        return export_view(self, request)

    def results_export_view(self, request):
        return results_export_view(self, request)


def _review(obj) -> str:
    """A review in a few words: its verdict, its defect codes, the start of its notes."""
    notes = obj.notes if len(obj.notes) <= 40 else obj.notes[:39] + "…"
    return format_html(
        "{}{}{}",
        obj.get_outcome_display() or pgettext("a review without a verdict", "no verdict"),
        format_html(" · {}", ", ".join(obj.defects)) if obj.defects else "",
        format_html(" <q>{}</q>", notes) if notes else "",
    )


def _when(moment) -> str:
    """A time in the site's zone, short (month, day, hours, minutes; the month's name in
    the page's language); the exact time in the element's `datetime` and on the
    assignment's page."""
    if moment is None:
        return "—"
    return format_html(
        '<time datetime="{}">{}</time>',
        moment.isoformat(),
        dateformat.format(
            timezone.localtime(moment),
            # Translators: Django's date format codes (M: month's short name, d: day of the
            # month, j: the same without a leading zero, H:i: hours and minutes), no year.
            pgettext("short date and time in a list", "M d H:i"),
        ),
    )


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "actor_username", "action", "person", "task_link", "detail"]
    list_filter = ["action", "actor_username", "at"]
    search_fields = ["actor_username", "person__name", "=task__id", "detail"]
    date_hierarchy = "at"
    list_select_related = ["person", "task"]

    @admin.display(description=_("task"))
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
        "last_cycle_took",
        "cycles",
        "assigned_total",
        "released_total",
    ]

    @admin.display(description=_("last cycle took (s)"), ordering="last_cycle_seconds")
    def last_cycle_took(self, obj):
        return floatformat(obj.last_cycle_seconds, 3)  # in the page's language: 0.007, 0,007

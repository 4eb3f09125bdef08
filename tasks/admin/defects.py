"""The catalogue of defect codes that reviews log (`DefectCode`), kept by supervisors.

A code is never deleted nor renamed once saved: reviews refer to it by its text, so a
code that is no longer wanted is deactivated (new reviews refuse it, old ones keep it).
"""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tasks import reviews
from tasks.models import DefectCode


class DefectCodeForm(forms.ModelForm):
    class Meta:
        model = DefectCode
        fields = ["code", "description", "active"]

    def clean_code(self):
        # Typed in any case, kept in capitals (the model's validator checks the rest).
        return (self.cleaned_data.get("code") or "").strip().upper()


@admin.register(DefectCode)
class DefectCodeAdmin(admin.ModelAdmin):
    form = DefectCodeForm
    list_display = ["code", "description", "active"]
    list_filter = ["active"]
    search_fields = ["code", "description"]
    actions = ["deactivate_selected", "activate_selected"]
    change_form_template = "admin/tasks/defectcode/change_form.html"

    def has_delete_permission(self, request, obj=None):
        return False  # reviews refer to codes by their text: deactivate instead

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []  # a saved code keeps its text

    @admin.action(
        description=_("Deactivate selected defect codes (new reviews refuse them)"),
        permissions=["change"],
    )
    def deactivate_selected(self, request, queryset):
        self._set_active(request, queryset, active=False)

    @admin.action(description=_("Activate selected defect codes"), permissions=["change"])
    def activate_selected(self, request, queryset):
        self._set_active(request, queryset, active=True)

    def _set_active(self, request, queryset, *, active: bool) -> None:
        changed = queryset.exclude(active=active).update(active=active)
        # An UPDATE sends no signal: this process reads the catalogue again at once (the
        # others within reviews.CATALOGUE_SECONDS).
        reviews.catalogue_changed()
        message = (
            ngettext(
                "Activated %(count)d defect code.", "Activated %(count)d defect codes.", changed
            )
            if active
            else ngettext(
                "Deactivated %(count)d defect code.", "Deactivated %(count)d defect codes.", changed
            )
        )
        self.message_user(request, message % {"count": changed}, messages.SUCCESS)

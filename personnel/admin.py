from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qcproject.admin_mixins import back_to
from qcproject.exceptions import DomainError
from tasks import sessions
from tasks.models import Task

from . import services
from .models import Person


class PersonAddForm(forms.ModelForm):
    username = forms.CharField(
        label=gettext_lazy("Username"),
        max_length=150,
        help_text=gettext_lazy("The login of this person."),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"), widget=forms.PasswordInput, strip=False
    )

    class Meta:
        model = Person
        fields = ["name"]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                services.person_validate_new(
                    name=cleaned["name"], username=cleaned["username"], password=cleaned["password"]
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "username",
        "is_logged_in",
        "is_busy",
        "current_task",
        "last_heartbeat",
        "logged_in_at",
    ]
    list_filter = ["is_logged_in", "is_busy", "signed_out_reason"]
    search_fields = ["name", "user__username"]
    actions = ["sign_out_selected"]
    change_form_template = "admin/personnel/person/change_form.html"
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "is_logged_in",
        "is_busy",
        "last_heartbeat",
        "logged_in_at",
        "idle_since",
        "signed_out_reason",
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # keep the history; deactivate the user's login instead

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PersonAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "username", "password"]
        return ["name", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_queryset(self, request):
        current = Task.objects.filter(in_progress_person=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                current_task_id=Subquery(current.values("id")[:1]),
                current_task_description=Subquery(current.values("description")[:1]),
            )
        )

    @admin.display(description=gettext_lazy("username"), ordering="user__username")
    def username(self, obj):
        return obj.user.username

    @admin.display(description=gettext_lazy("current task"))
    def current_task(self, obj):
        if obj.current_task_id is None:
            return "—"
        text = obj.current_task_description
        return f"#{obj.current_task_id} {text if len(text) <= 40 else text[:39] + '…'}"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.person_create(
            name=form.cleaned_data["name"],
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        obj.pk, obj.user_id = created.pk, created.user_id

    @admin.action(
        description=gettext_lazy("Sign selected people out now"), permissions=["intervene"]
    )
    def sign_out_selected(self, request, queryset):
        for person_id in queryset.order_by("id").values_list("id", flat=True):
            self._sign_out(request, person_id)

    def has_intervene_permission(self, request):
        return request.user.has_perm("tasks.intervene")

    def get_urls(self):
        return [
            path(
                "<int:object_id>/sign-out/",
                self.admin_site.admin_view(self.sign_out_view),
                name="personnel_person_sign_out",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_intervene": self.has_intervene_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def sign_out_view(self, request, object_id: int):
        change_url = reverse("admin:personnel_person_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        if not self.has_intervene_permission(request):
            raise PermissionDenied
        self._sign_out(request, get_object_or_404(Person, pk=object_id).pk)
        return back_to(request, change_url)

    def _sign_out(self, request, person_id: int) -> None:
        try:
            released = sessions.person_sign_out(actor=request.user, person_id=person_id)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        name = Person.objects.values_list("name", flat=True).get(pk=person_id)
        if released:
            text = _("%(name)s is signed out; task %(task)s is back in the queue.") % {
                "name": name,
                "task": released[0],
            }
        else:
            text = _("%(name)s is signed out.") % {"name": name}
        self.message_user(request, text, messages.SUCCESS)

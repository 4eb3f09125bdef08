from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from qcproject.admin_mixins import back_to
from qcproject.exceptions import DomainError
from tasks import routing, sessions
from tasks.models import EndReason, Task

from . import services
from .models import Person


class PersonAddForm(forms.ModelForm):
    username = forms.CharField(max_length=150, help_text="The login of this person.")
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

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


class SkillsField(forms.CharField):
    """A person's skills as a comma-separated line (`tasks.routing.skills_clean` checks
    them)."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        names = [name.strip() for name in text.split(",") if name.strip()]
        try:
            return routing.skills_clean(names)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc


class PersonChangeForm(forms.ModelForm):
    skills = SkillsField(
        required=False,
        help_text="Comma-separated, such as 'welding, x-ray': a task that needs a skill goes "
        "only to people who have it.",
    )

    class Meta:
        model = Person
        fields = ["name", "skills"]


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "username",
        "is_logged_in",
        "is_busy",
        "current_task",
        "skills_shown",
        "last_heartbeat",
        "logged_in_at",
    ]
    list_filter = ["is_logged_in", "is_busy", "signed_out_reason"]
    form = PersonChangeForm
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
        "last_release",
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
        return ["name", "skills", *self.readonly_fields]

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

    @admin.display(description="Username", ordering="user__username")
    def username(self, obj):
        return obj.user.username

    @admin.display(description="Current task")
    def current_task(self, obj):
        if obj.current_task_id is None:
            return "—"
        text = obj.current_task_description
        return f"#{obj.current_task_id} {text if len(text) <= 40 else text[:39] + '…'}"

    @admin.display(description="Skills")
    def skills_shown(self, obj):
        return ", ".join(obj.skills or ()) or "—"

    @admin.display(description="Last task taken back")
    def last_release(self, obj):
        if obj.last_release_task_id is None:
            return "—"
        return (
            f"#{obj.last_release_task_id}: {EndReason(obj.last_release_reason).label}, "
            f"{obj.last_release_at:%Y-%m-%d %H:%M:%S} UTC"
        )

    def save_model(self, request, obj, form, change):
        if change:
            # Only what the supervisor changed (never the whole row: the engine changes the
            # session's fields under the person's lock meanwhile).
            if "name" in form.changed_data:
                Person.objects.filter(pk=obj.pk).update(name=form.cleaned_data["name"].strip())
            if "skills" in form.changed_data:
                try:
                    services.person_skills_set(
                        actor=request.user, person_id=obj.pk, skills=form.cleaned_data["skills"]
                    )
                except (DomainError, ValidationError) as exc:
                    request.qc_refused = getattr(exc, "message", None) or "; ".join(exc.messages)
            return
        created = services.person_create(
            name=form.cleaned_data["name"],
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        obj.pk, obj.user_id = created.pk, created.user_id

    @admin.action(description="Sign selected people out now", permissions=["intervene"])
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

    def save_related(self, request, form, formsets, change):
        if not change:
            super().save_related(request, form, formsets, change)

    def response_change(self, request, obj):
        refused = getattr(request, "qc_refused", None)
        if refused:
            self.message_user(request, f"The skills were not changed: {refused}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:personnel_person_change", args=[obj.pk]))
        return super().response_change(request, obj)

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
        note = f"; task {released[0]} is back in the queue" if released else ""
        self.message_user(request, f"{name} is signed out{note}.", messages.SUCCESS)

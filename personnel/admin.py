from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery

from tasks.models import Task

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
    list_filter = ["is_logged_in", "is_busy"]
    search_fields = ["name", "user__username"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "is_logged_in",
        "is_busy",
        "last_heartbeat",
        "logged_in_at",
        "idle_since",
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

    @admin.display(description="Username", ordering="user__username")
    def username(self, obj):
        return obj.user.username

    @admin.display(description="Current task")
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

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.apps import apps as django_apps
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from qcproject.admin_mixins import ReadOnlyAdminMixin, back_to
from qcproject.exceptions import DomainError
from tasks import routing, sessions
from tasks.models import EndReason, Task

from . import services
from .models import ApiToken, Person


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
        help_text=gettext_lazy(
            "Comma-separated, such as 'welding, x-ray': a task that needs a skill goes "
            "only to people who have it."
        ),
    )

    class Meta:
        model = Person
        fields = ["name", "skills"]


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "username",
        "login_active",
        "is_logged_in",
        "is_busy",
        "current_task",
        "skills_shown",
        "last_heartbeat",
        "logged_in_at",
    ]
    list_filter = ["is_logged_in", "is_busy", "signed_out_reason", "user__is_active"]
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

    @admin.display(description=gettext_lazy("username"), ordering="user__username")
    def username(self, obj):
        return obj.user.username

    @admin.display(
        description=gettext_lazy("login active"), boolean=True, ordering="user__is_active"
    )
    def login_active(self, obj):
        return obj.user.is_active

    @admin.display(description=gettext_lazy("current task"))
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

    @admin.action(
        description=gettext_lazy("Sign selected people out now"), permissions=["intervene"]
    )
    def sign_out_selected(self, request, queryset):
        for person_id in queryset.order_by("id").values_list("id", flat=True):
            self._sign_out(request, person_id)

    def has_intervene_permission(self, request):
        return request.user.has_perm("tasks.intervene")

    def has_manage_login_permission(self, request):
        return request.user.has_perm("personnel.manage_login")

    def get_urls(self):
        def view(name, method):
            return path(
                f"<int:object_id>/{name}/",
                self.admin_site.admin_view(method),
                name=f"personnel_person_{name.replace('-', '_')}",
            )

        return [
            view("sign-out", self.sign_out_view),
            view("password", self.password_view),
            view("deactivate", self.deactivate_view),
            view("reactivate", self.reactivate_view),
            view("revoke-tokens", self.revoke_tokens_view),
            *super().get_urls(),
        ]

    def save_related(self, request, form, formsets, change):
        if not change:
            super().save_related(request, form, formsets, change)

    def response_change(self, request, obj):
        refused = getattr(request, "qc_refused", None)
        if refused:
            self.message_user(
                request,
                _("The skills were not changed: %(reason)s") % {"reason": refused},
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:personnel_person_change", args=[obj.pk]))
        return super().response_change(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_intervene": self.has_intervene_permission(request),
            "can_manage_login": self.has_manage_login_permission(request),
        }
        person = Person.objects.select_related("user").filter(pk=object_id).first()
        if person is not None and self.has_view_permission(request, person):
            extra_context["account"] = person.user
            extra_context["tokens"] = services.person_tokens(person_id=person.pk)
        return super().change_view(request, object_id, form_url, extra_context)

    def sign_out_view(self, request, object_id: int):
        change_url = reverse("admin:personnel_person_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        if not self.has_intervene_permission(request):
            raise PermissionDenied
        self._sign_out(request, get_object_or_404(Person, pk=object_id).pk)
        return back_to(request, change_url)

    # --- the person's login -----------------------------------------------------------------

    def password_view(self, request, object_id: int):
        """Set the person's password: a form (twice, as Django's own), then the service."""
        if not self.has_manage_login_permission(request):
            raise PermissionDenied
        person = get_object_or_404(Person.objects.select_related("user"), pk=object_id)
        change_url = reverse("admin:personnel_person_change", args=[person.pk])
        form = SetPasswordForm(person.user, request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            if self._login_change(
                request,
                lambda: services.account_set_password(
                    actor=request.user,
                    person_id=person.pk,
                    password=form.cleaned_data["new_password1"],
                ),
                _("%(name)s's password is set; their API tokens and sessions ended.")
                % {"name": person.name},
            ):
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": person,
            "form": form,
            "title": _("Set the password of %(name)s") % {"name": person.name},
        }
        return TemplateResponse(request, "admin/personnel/person/password.html", context)

    def deactivate_view(self, request, object_id: int):
        return self._login_button(
            request,
            object_id,
            services.account_deactivate,
            lambda name, result: (
                _("%(name)s's login is deactivated; their work session and API tokens ended.")
                % {"name": name}
            ),
        )

    def reactivate_view(self, request, object_id: int):
        return self._login_button(
            request,
            object_id,
            services.account_reactivate,
            lambda name, result: _("%(name)s's login is active again.") % {"name": name},
        )

    def revoke_tokens_view(self, request, object_id: int):
        """Revoke one API token (`token` in the form) or all of them."""
        token_id = request.POST.get("token") or None

        def revoke(*, actor, person_id):
            return services.person_tokens_revoke(
                actor=actor, person_id=person_id, token_id=int(token_id) if token_id else None
            )

        return self._login_button(
            request,
            object_id,
            revoke,
            lambda name, result: (
                ngettext(
                    "%(name)s: %(count)s API token revoked.",
                    "%(name)s: %(count)s API tokens revoked.",
                    result,
                )
                % {"name": name, "count": result}
            ),
        )

    def _login_button(self, request, object_id: int, service, success):
        """`success(name, result)`: what to tell the supervisor once the service is done."""
        change_url = reverse("admin:personnel_person_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        if not self.has_manage_login_permission(request):
            raise PermissionDenied
        person = get_object_or_404(Person, pk=object_id)
        self._login_change(
            request,
            lambda: service(actor=request.user, person_id=person.pk),
            lambda result: success(person.name, result),
        )
        return back_to(request, change_url)

    def _login_change(self, request, change, success) -> bool:
        """Run `change`; tell the supervisor `success` (a text, or a function of the
        change's result) or why it was refused."""
        try:
            result = change()
        except (DomainError, ValidationError, ValueError) as exc:
            text = exc.message if isinstance(exc, DomainError) else "; ".join(_messages(exc))
            self.message_user(request, text, messages.ERROR)
            return False
        text = success(result) if callable(success) else success
        self.message_user(request, text, messages.SUCCESS)
        return True

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


def _messages(exc) -> list[str]:
    return getattr(exc, "messages", None) or [str(exc)]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every API token (never the token itself: only its first characters are kept in the
    clear). Revoking is audited; tokens are issued by `POST /auth/token` only."""

    list_display = ["prefix_shown", "user", "created_at", "last_used_at", "expires_at"]
    list_select_related = ["user"]
    list_filter = ["created_at", "expires_at"]
    search_fields = ["user__username", "prefix"]
    actions = ["revoke_selected"]
    fields = ["prefix_shown", "user", "created_at", "last_used_at", "expires_at"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("token"), ordering="prefix")
    def prefix_shown(self, obj):
        return f"{obj.prefix}…"

    @admin.action(
        description=gettext_lazy("Revoke selected API tokens"), permissions=["manage_login"]
    )
    def revoke_selected(self, request, queryset):
        revoked = services.api_tokens_revoke(
            actor=request.user, token_ids=queryset.values_list("pk", flat=True)
        )
        text = ngettext(
            "%(count)s API token revoked.", "%(count)s API tokens revoked.", revoked
        ) % {"count": revoked}
        self.message_user(request, text, messages.SUCCESS)

    def has_manage_login_permission(self, request):
        return request.user.has_perm("personnel.manage_login")


# Sign-ins locked by failures: django-axes' list, with an audited "Unlock" in place of a
# plain delete, so that every unlock says who did it.
admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    actions = ["unlock_selected"]

    @admin.action(
        description=gettext_lazy("Unlock the selected usernames from their addresses"),
        permissions=["unlock"],
    )
    def unlock_selected(self, request, queryset):
        pairs = services.login_unlock(
            actor=request.user, attempt_ids=queryset.values_list("pk", flat=True)
        )
        names = ", ".join(
            _("%(username)s from %(address)s") % {"username": u or _("(no username)"), "address": a}
            for u, a in pairs
        )
        self.message_user(request, _("Unlocked: %(names)s.") % {"names": names}, messages.SUCCESS)

    def has_unlock_permission(self, request):
        return request.user.has_perm("axes.delete_accessattempt")

    def has_delete_permission(self, request, obj=None):
        return False  # unlock instead: audited


# The old token table (DRF's authtoken): nothing authenticates against it any more, and its
# admin would let a superuser make keys in the clear that work nowhere.
if django_apps.is_installed("rest_framework.authtoken"):
    from rest_framework.authtoken.models import TokenProxy

    if admin.site.is_registered(TokenProxy):
        admin.site.unregister(TokenProxy)


# Django's user list (superusers): a login deactivated there loses its API tokens too.
User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_tokens_revoke(actor=request.user, user=obj)

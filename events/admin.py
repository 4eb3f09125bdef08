"""The supervisors' view of events and webhooks: the events (read only), the webhook
endpoints (add, change, enable, rotate the secret) and the deliveries (status, answer,
attempts; send again). Each change goes through `events.services`."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import formats
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from qcproject.exceptions import DomainError

from . import services, signing
from .models import Delivery, DeliveryStatus, Event, EventType, WebhookEndpoint


def _search_by_ids(queryset, term: str, *fields: str):
    term = term.strip()
    if not term:
        return queryset
    if term.isdigit():
        q = Q()
        for name in fields:
            q |= Q(**{name: int(term)})
        return queryset.filter(q)
    return None


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = (
        "event_id",
        "type",
        "occurred_at",
        "task_id",
        "person_id",
        "external_id",
        "data",
    )
    list_filter = ("type",)
    search_fields = ("external_id",)
    search_help_text = gettext_lazy("An event id, task id or person id, or a task's external id.")
    ordering = ("-id",)
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description=gettext_lazy("id"), ordering="seq")
    def event_id(self, obj):
        # Not sequenced yet: committed a moment ago; a worker or GET /events gives it its id.
        return obj.seq if obj.seq is not None else "—"

    def get_search_results(self, request, queryset, search_term):
        found = _search_by_ids(queryset, search_term, "seq", "task_id", "person_id")
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    def changelist_view(self, request, extra_context=None):
        services.events_sequence(limit=services.SEQUENCE_BATCH)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=gettext_lazy("URL"),
        max_length=2000,
        assume_scheme="https",
        help_text=gettext_lazy("https:// only, or http:// to a host in QC_WEBHOOK_ALLOWED_HOSTS."),
    )
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=gettext_lazy("Event types"),
        help_text=gettext_lazy("None ticked: every type, including types added later."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types", "is_active")
        help_texts = {
            "is_active": gettext_lazy(
                "Inactive: no deliveries are made; when made active again, the events it "
                "missed meanwhile are delivered."
            ),
        }

    def clean_url(self):
        url = self.cleaned_data["url"]
        problem = signing.url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "is_active", "types", "health", "last_success_at", "waiting")
    list_filter = ("is_active",)
    readonly_fields = (
        "secret",
        "created_at",
        "failing_since",
        "last_success_at",
        "last_failure_at",
        "last_error",
        "disabled_at",
        "disabled_reason",
    )
    actions = ("enable", "rotate_secret")

    def get_queryset(self, request):
        # Counted through the index (endpoint, status, …): pending rows only.
        pending = (
            Delivery.objects.filter(endpoint=OuterRef("pk"), status=DeliveryStatus.PENDING)
            .order_by()
            .values("endpoint")
            .annotate(n=Count("id"))
            .values("n")
        )
        return super().get_queryset(request).annotate(waiting_n=Coalesce(Subquery(pending), 0))

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_fieldsets(self, request, obj=None):
        main = (None, {"fields": ("url", "description", "event_types", "is_active")})
        if obj is None:
            return (main,)
        return (
            main,
            (
                _("Signing secret"),
                {
                    "fields": ("secret",),
                    "description": _(
                        "The receiver verifies each request's signature with it (Standard "
                        "Webhooks). Keep it secret; rotate it if it leaks."
                    ),
                },
            ),
            (
                _("Health"),
                {
                    "fields": (
                        "created_at",
                        "failing_since",
                        "last_success_at",
                        "last_failure_at",
                        "last_error",
                        "disabled_at",
                        "disabled_reason",
                    )
                },
            ),
        )

    @admin.display(description=gettext_lazy("event types"))
    def types(self, obj):
        return ", ".join(obj.event_types) if obj.event_types else _("all")

    @admin.display(description=gettext_lazy("health"))
    def health(self, obj):
        if obj.disabled_at and not obj.is_active:
            return format_html(
                '<span class="qc-warn">{}</span>',
                _("disabled %(when)s") % {"when": formats.localize(localtime(obj.disabled_at))},
            )
        if obj.failing_since:
            return format_html(
                '<span class="qc-warn">{}</span>',
                _("failing since %(when)s")
                % {"when": formats.localize(localtime(obj.failing_since))},
            )
        return _("ok") if obj.is_active else _("inactive")

    @admin.display(description=gettext_lazy("waiting"), ordering="waiting_n")
    def waiting(self, obj):
        return obj.waiting_n

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {
            "url": data["url"],
            "event_types": list(data["event_types"]),
            "description": data["description"],
            "is_active": data["is_active"],
        }
        try:
            if change:
                saved = services.endpoint_update(endpoint_id=obj.pk, **fields)
            else:
                saved = services.endpoint_create(**fields)
        except DomainError as exc:  # the form checked; the rule may have changed since
            raise forms.ValidationError(exc.message) from exc
        for f in obj._meta.concrete_fields:
            setattr(obj, f.attname, getattr(saved, f.attname))
        obj._state.adding = False
        if not change:
            self.message_user(
                request,
                _("The signing secret of %(url)s is %(secret)s (also on its page).")
                % {"url": saved.url, "secret": saved.secret},
                messages.INFO,
            )

    @admin.action(
        description=gettext_lazy("Enable, and deliver what waits"), permissions=["change"]
    )
    def enable(self, request, queryset):
        n = services.endpoints_enable(endpoint_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(
            request,
            ngettext("%(count)s endpoint enabled.", "%(count)s endpoints enabled.", n)
            % {"count": n},
        )

    @admin.action(description=gettext_lazy("Rotate the signing secret"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            secret = services.endpoint_secret_rotate(endpoint_id=endpoint.pk)
            self.message_user(
                request,
                _("New secret of %(url)s: %(secret)s") % {"url": endpoint.url, "secret": secret},
                messages.INFO,
            )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "endpoint",
        "event_id",
        "event_type",
        "task",
        "status",
        "attempts",
        "response_code",
        "last_attempt_at",
        "next_attempt",
        "short_error",
    )
    list_filter = ("status", "endpoint")
    list_select_related = ("event", "endpoint")
    search_fields = ("id",)
    search_help_text = gettext_lazy("An event id or a task id.")
    ordering = ("-id",)
    show_full_result_count = False
    list_per_page = 100
    actions = ("resend",)
    fields = (
        "endpoint",
        "event_id",
        "event_type",
        "task",
        "status",
        "attempts",
        "created_at",
        "first_attempt_at",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "response_code",
        "response_body",
        "error",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("event"), ordering="seq")
    def event_id(self, obj):
        return obj.seq

    @admin.display(description=gettext_lazy("type"))
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description=gettext_lazy("task"))
    def task(self, obj):
        return obj.event.task_id

    @admin.display(description=gettext_lazy("next attempt"))
    def next_attempt(self, obj):
        return obj.next_attempt_at if obj.status == DeliveryStatus.PENDING else "—"

    @admin.display(description=gettext_lazy("error"))
    def short_error(self, obj):
        return obj.error[:60]

    def get_search_results(self, request, queryset, search_term):
        found = _search_by_ids(queryset, search_term, "seq", "event__task_id")
        if found is not None:
            return found, False
        return queryset.none(), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return request.user.has_perm("events.resend_delivery")

    @admin.action(description=gettext_lazy("Send again"), permissions=["resend"])
    def resend(self, request, queryset):
        n = services.deliveries_resend(delivery_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(
            request,
            ngettext(
                "%(count)s delivery will be sent again (pending ones are left).",
                "%(count)s deliveries will be sent again (pending ones are left).",
                n,
            )
            % {"count": n},
        )

"""Tasks in the admin: the list with its interventions, adding tasks one per line, and the
task's page with its intervention buttons."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from personnel.models import Person
from qcproject.admin_mixins import back_to
from qcproject.db import db_now
from qcproject.exceptions import DomainError
from tasks import routing, selectors, services
from tasks.models import MAX_PRIORITY, MAX_REVIEWS, SKILL_MAX_LENGTH, Task, TaskStatus

from .dashboard import dashboard_data_view, dashboard_view
from .importing import import_template_view, import_view
from .interventions import (
    TASK_INTERVENTIONS,
    ResolveForm,
    can_intervene,
    free_people,
    intervene_on_task,
)


class RoutingFormMixin(forms.Form):
    """The routing fields of a task in the admin's forms; `tasks.routing` is the rule."""

    priority = forms.IntegerField(
        min_value=0,
        max_value=MAX_PRIORITY,
        initial=0,
        required=False,  # empty: 0
        help_text=format_lazy(
            gettext_lazy(
                "0 to {max}, higher first; a waiting task rises one level for every "
                "QC_PRIORITY_AGING seconds it waits."
            ),
            max=MAX_PRIORITY,
        ),
    )
    skill = forms.CharField(
        max_length=SKILL_MAX_LENGTH,
        required=False,
        help_text=gettext_lazy(
            "Only people with this skill get the task (such as 'welding'); empty: anyone."
        ),
    )
    max_handle_seconds = forms.IntegerField(
        min_value=0,
        max_value=routing.MAX_HANDLE_SECONDS,
        required=False,
        label=gettext_lazy("Time limit (seconds)"),
        help_text=gettext_lazy(
            "Back to the queue if in progress longer; empty: the default "
            "(QC_MAX_HANDLE_TIME); 0: none."
        ),
    )
    expires_at = forms.DateTimeField(
        required=False,
        label=gettext_lazy("Expires at (UTC)"),
        help_text=gettext_lazy("Never assigned after this; it then leaves the queue as expired."),
    )

    def clean_skill(self):
        try:
            return routing.skill_clean(self.cleaned_data["skill"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc

    def clean_expires_at(self):
        value = self.cleaned_data["expires_at"]
        if value is not None and value <= db_now():
            raise ValidationError("The expiry must be in the future.")
        return value


class ReviewsFormMixin(forms.Form):
    """How many reviews a task needs (docs/engine.md, "Outcomes"); `tasks.reviews` is the
    rule."""

    reviews_required = forms.IntegerField(
        label=gettext_lazy("Reviews required"),
        min_value=1,
        max_value=MAX_REVIEWS,
        initial=1,
        required=False,  # empty: 1
        help_text=format_lazy(
            gettext_lazy(
                "How many different people review the task (1 to {max}); reviews that "
                "disagree make it disputed, for a supervisor to resolve."
            ),
            max=MAX_REVIEWS,
        ),
    )


class TaskAddForm(RoutingFormMixin, ReviewsFormMixin, forms.ModelForm):
    descriptions = forms.CharField(
        label=gettext_lazy("Descriptions"),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80}),
        help_text=gettext_lazy(
            "One task per line; blank lines are ignored. One line makes one task. The "
            "routing below applies to each."
        ),
    )

    class Meta:
        model = Task
        fields = []

    def clean_descriptions(self):
        lines = [line for line in self.cleaned_data["descriptions"].splitlines() if line.strip()]
        try:
            return services.task_descriptions_clean(lines)
        except DomainError as exc:
            hint = " " + _("Use Import for more.") if exc.code == "too_many_tasks" else ""
            raise ValidationError(exc.message + hint) from exc


class TaskChangeForm(RoutingFormMixin, ReviewsFormMixin, forms.ModelForm):
    """A task's page: the description, and the routing and the reviews it needs while the
    task waits. Saved through `services.task_update`, which writes only what changed, under
    the task's lock."""

    class Meta:
        model = Task
        fields = [
            "description",
            "priority",
            "skill",
            "max_handle_seconds",
            "expires_at",
            "reviews_required",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "priority" in self.fields:
            self.fields["priority"].required = True

    def clean_reviews_required(self):
        # Left out (a form from before the field, a client that does not send it): as it is.
        value = self.cleaned_data["reviews_required"]
        return self.instance.reviews_required if value is None else value

    def clean_expires_at(self):
        if "expires_at" not in self.changed_data:
            return self.cleaned_data["expires_at"]
        return super().clean_expires_at()


class TaskActionForm(helpers.ActionForm):
    person = forms.ModelChoiceField(
        queryset=Person.objects.none(),
        required=False,
        label=gettext_lazy("Reassign to"),
        empty_label=gettext_lazy("(a free person)"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = free_people()


class SkillFilter(admin.SimpleListFilter):
    """Tasks by skill: the skills people have and open tasks need (not a scan of history)."""

    title = "skill"
    parameter_name = "skill"
    NONE = "-"

    def lookups(self, request, model_admin):
        known = {
            s for skills in Person.objects.values_list("skills", flat=True) for s in skills or ()
        }
        known |= set(
            Task.objects.filter(
                status__in=[TaskStatus.PENDING, TaskStatus.IN_PROGRESS], skill__isnull=False
            )
            .values_list("skill", flat=True)
            .distinct()
        )
        return [(self.NONE, "(anyone)"), *((s, s) for s in sorted(known))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.NONE:
            return queryset.filter(skill__isnull=True)
        if value:
            return queryset.filter(skill=value)
        return queryset


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "short_description",
        "status",
        "reviews",
        "final_outcome",
        "priority",
        "skill",
        "assigned_to",
        "created_at",
        "expires_at",
    ]
    list_filter = [
        "status",
        "outcome",
        "priority",
        SkillFilter,
        ("assigned_to", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    search_fields = ["description", "assigned_to__name", "=id", "=external_id"]
    date_hierarchy = "created_at"
    list_select_related = ["assigned_to"]
    readonly_fields = [
        "status",
        "assigned_to",
        "created_at",
        "first_assigned_at",
        "external_id",
        "reviews_done",
        "outcome",
        "sampled",
    ]
    routing_fields = ["priority", "skill", "max_handle_seconds", "expires_at"]
    # What changes only while the task waits (`services.PENDING_FIELDS`).
    pending_fields = [*routing_fields, "reviews_required"]
    fields = ["description", *pending_fields, *readonly_fields]
    show_full_result_count = False
    form = TaskChangeForm  # (the admin drops its declared fields that are read-only)
    action_form = TaskActionForm
    actions = ["release_selected", "cancel_selected", "reassign_selected", "resolve_selected"]
    change_form_template = "admin/tasks/task/change_form.html"
    change_list_template = "admin/tasks/task/change_list.html"

    def has_delete_permission(self, request, obj=None):
        return False  # tasks are history: cancel instead

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TaskAddForm
            kwargs["fields"] = ["descriptions", *self.pending_fields]
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["descriptions", *self.pending_fields]
        # A resolved dispute: the supervisor's note stays with the task.
        return [*self.fields, "resolution_note"] if obj.resolution_note else self.fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The routing changes only while the task waits; nothing changes once it is closed.
        fixed = [] if obj.status == TaskStatus.PENDING else self.pending_fields
        if obj.status not in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS):
            fixed = ["description", *fixed]
        return [*fixed, *self.readonly_fields, "resolution_note"]

    @admin.display(description=gettext_lazy("description"))
    def short_description(self, obj):
        return obj.description if len(obj.description) <= 80 else obj.description[:79] + "…"

    @admin.display(description=gettext_lazy("reviews"))
    def reviews(self, obj):
        return f"{obj.reviews_done}/{obj.reviews_required}"

    @admin.display(description=gettext_lazy("outcome"), ordering="outcome")
    def final_outcome(self, obj):
        return obj.get_outcome_display() or "—"

    def save_model(self, request, obj, form, change):
        if change:
            # Only what the supervisor changed, under the task's lock (never the whole row:
            # the engine may have assigned the task since the page was loaded).
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            try:
                services.task_update(actor=request.user, task_id=obj.pk, changes=changes)
            except (DomainError, ValidationError) as exc:
                request.qc_refused = getattr(exc, "message", None) or "; ".join(exc.messages)
            return
        data = form.cleaned_data
        routed = {name: data[name] for name in self.routing_fields}
        routed["priority"] = routed["priority"] or 0
        required = data.get("reviews_required") or 1
        created = services.task_create(
            tasks=[
                services.NewTask(description=d, reviews_required=required, **routed)
                for d in data["descriptions"]
            ]
        )
        obj.pk = created[0].pk
        obj.description = created[0].description
        request.qc_created = len(created)

    def save_related(self, request, form, formsets, change):
        pass  # a task has no related objects edited here; the services wrote everything

    def log_change(self, request, obj, message):
        if not getattr(request, "qc_refused", None):
            super().log_change(request, obj, message)

    def response_change(self, request, obj):
        refused = getattr(request, "qc_refused", None)
        if refused:
            self.message_user(request, f"Task {obj.pk} was not changed: {refused}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:tasks_task_change", args=[obj.pk]))
        return super().response_change(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        count = getattr(request, "qc_created", 1)
        self.message_user(
            request,
            ngettext("Created %(count)s task.", "Created %(count)s tasks.", count)
            % {"count": count},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:tasks_task_changelist"))

    # --- interventions: list actions ---

    @admin.action(
        description=gettext_lazy("Put selected in-progress tasks back in the queue"),
        permissions=["intervene"],
    )
    def release_selected(self, request, queryset):
        for task_id in queryset.order_by("id").values_list("id", flat=True):
            intervene_on_task(self, request, "release", task_id)

    @admin.action(description=gettext_lazy("Cancel selected tasks"), permissions=["intervene"])
    def cancel_selected(self, request, queryset):
        for task_id in queryset.order_by("id").values_list("id", flat=True):
            intervene_on_task(self, request, "cancel", task_id)

    @admin.action(
        description=gettext_lazy("Reassign the selected task to the person chosen below"),
        permissions=["intervene"],
    )
    def reassign_selected(self, request, queryset):
        person_id = request.POST.get("person", "")
        if not person_id.isdigit():
            self.message_user(request, _("Choose a free person to reassign to."), messages.ERROR)
            return
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one task to reassign."), messages.ERROR)
            return
        intervene_on_task(self, request, "reassign", queryset.get().pk, person_id=int(person_id))

    @admin.action(
        description=gettext_lazy("Resolve the selected disputed task…"),
        permissions=["intervene"],
    )
    def resolve_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one task to resolve."), messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:tasks_task_resolve", args=[queryset.get().pk]))

    def has_intervene_permission(self, request):
        return can_intervene(request)

    # --- interventions: buttons on the detail page, import, dashboard ---

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="tasks_dashboard"),
            path("dashboard/data/", wrap(self.dashboard_data_view), name="tasks_dashboard_data"),
            path("import/", wrap(self.import_view), name="tasks_task_import"),
            path(
                "import/template.<str:kind>",
                wrap(self.import_template_view),
                name="tasks_task_import_template",
            ),
            *(
                path(
                    f"<int:object_id>/{name}/",
                    wrap(self.intervention_view),
                    {"intervention": name},
                    name=f"tasks_task_{name}",
                )
                for name in TASK_INTERVENTIONS
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        task = Task.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        people = list(free_people())
        if task is not None and task.skill:
            # Only those who may take it (the service refuses the others with a reason).
            cutoff = routing.relax_cutoff(db_now())
            people = [
                p
                for p in people
                if routing.may_take(
                    p.skills or (), task_skill=task.skill, created_at=task.created_at, cutoff=cutoff
                )
            ]
        extra_context = {
            **(extra_context or {}),
            "can_intervene": can_intervene(request),
            "free_people": people,
            "open_statuses": [TaskStatus.PENDING, TaskStatus.IN_PROGRESS],
            "reviews": list(selectors.task_reviews(task.pk)) if task is not None else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def intervention_view(self, request, object_id: int, intervention: str):
        if intervention == "resolve":
            return self.resolve_view(request, object_id)
        change_url = reverse("admin:tasks_task_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        if not can_intervene(request):
            raise PermissionDenied
        task = get_object_or_404(Task, pk=object_id)
        kwargs = {}
        if intervention == "reassign":
            person_id = request.POST.get("person", "")
            if not person_id.isdigit():
                self.message_user(
                    request, _("Choose a free person to reassign to."), messages.ERROR
                )
                return back_to(request, change_url)
            kwargs["person_id"] = int(person_id)
        intervene_on_task(self, request, intervention, task.pk, **kwargs)
        return back_to(request, change_url)

    def resolve_view(self, request, object_id: int):
        """A disputed task's reviews and the form for its final outcome and note (GET);
        the resolve (POST), back to the task's page when done."""
        if not can_intervene(request):
            raise PermissionDenied
        task = get_object_or_404(Task, pk=object_id)
        change_url = reverse("admin:tasks_task_change", args=[task.pk])
        if task.status != TaskStatus.DISPUTED:
            self.message_user(
                request,
                _("Task %(id)s is not disputed: there is nothing to resolve.") % {"id": task.pk},
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        form = ResolveForm(request.POST if request.method == "POST" else None)
        if form.is_valid() and intervene_on_task(
            self,
            request,
            "resolve",
            task.pk,
            outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
        ):
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Resolve task %(id)s") % {"id": task.pk},
            "original": task,
            "form": form,
            "reviews": list(selectors.task_reviews(task.pk)),
        }
        return TemplateResponse(request, "admin/tasks/task/resolve.html", context)

    def import_view(self, request):
        return import_view(self, request)

    def import_template_view(self, request, kind):
        return import_template_view(self, request, kind)

    def dashboard_view(self, request):
        return dashboard_view(self, request)

    def dashboard_data_view(self, request):
        return dashboard_data_view(self, request)

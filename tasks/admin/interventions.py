"""Supervisor interventions from the admin: the task list's actions and the buttons on a
task's page (and the form resolving a dispute), each one call of an intervention service."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from personnel.models import Person
from qcproject.exceptions import DomainError
from tasks import interventions
from tasks.models import NOTES_MAX_LENGTH, Outcome


def can_intervene(request) -> bool:
    return request.user.has_perm("tasks.intervene")


def free_people():
    """Signed-in people without a task: the choices for a reassignment."""
    return Person.objects.filter(is_logged_in=True, is_busy=False).order_by("name", "id")


# intervention name -> (service, what it did)
TASK_INTERVENTIONS = {
    "release": (interventions.task_release, gettext_lazy("Task %(id)s is back in the queue.")),
    "cancel": (interventions.task_cancel, gettext_lazy("Task %(id)s is cancelled.")),
    "reassign": (interventions.task_reassign, gettext_lazy("Task %(id)s is reassigned.")),
    "resolve": (interventions.task_resolve, gettext_lazy("Task %(id)s is resolved.")),
}


class ResolveForm(forms.Form):
    """A disputed task's final outcome and the supervisor's reason
    (`interventions.task_resolve`)."""

    outcome = forms.ChoiceField(
        label=gettext_lazy("Final outcome"), choices=Outcome.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        max_length=NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text=gettext_lazy("Why this outcome: the note stays with the task."),
    )


def intervene_on_task(model_admin, request, intervention: str, task_id: int, **kwargs) -> bool:
    """Run one intervention service on a task; tell the supervisor how it went. Returns
    whether it was done."""
    service, outcome = TASK_INTERVENTIONS[intervention]
    try:
        service(actor=request.user, task_id=task_id, **kwargs)
    except (DomainError, ValidationError) as exc:
        problem = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        model_admin.message_user(
            request,
            _("Task %(id)s: %(problem)s") % {"id": task_id, "problem": problem},
            messages.ERROR,
        )
        return False
    model_admin.message_user(request, outcome % {"id": task_id}, messages.SUCCESS)
    return True

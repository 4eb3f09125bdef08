"""Supervisor interventions from the admin: the task list's actions and the buttons on a
task's page, each one call of an intervention service."""

from django.contrib import messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from personnel.models import Person
from qcproject.exceptions import DomainError
from tasks import interventions


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
}


def intervene_on_task(model_admin, request, intervention: str, task_id: int, **kwargs) -> None:
    """Run one intervention service on a task; tell the supervisor how it went."""
    service, outcome = TASK_INTERVENTIONS[intervention]
    try:
        service(actor=request.user, task_id=task_id, **kwargs)
    except DomainError as exc:
        model_admin.message_user(
            request,
            _("Task %(id)s: %(problem)s") % {"id": task_id, "problem": exc.message},
            messages.ERROR,
        )
    else:
        model_admin.message_user(request, outcome % {"id": task_id}, messages.SUCCESS)

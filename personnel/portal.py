"""The QC portal: the page QC personnel work in, and its URL configuration.

The page is a thin shell. It renders who is signed in and their state at load time; every
change after that goes through the REST API (`static/portal/portal.js`). The person comes
from the signed-in user, never from the URL, so nobody can open someone else's page.
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.db import DatabaseError
from django.shortcuts import render
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from tasks import sessions
from tasks.models import Assignment

from .models import Person
from .selectors import person_get
from .serializers import PersonSerializer

logger = logging.getLogger(__name__)

# Stands for the task id in the complete URL handed to the page; the script substitutes it.
_TASK_ID_PLACEHOLDER = 999_999_999_999


@never_cache
@login_required
def portal(request):
    """The work page for a QC person; a link to the admin for a supervisor; 403 otherwise."""
    person = Person.objects.filter(user=request.user).first()
    if person is None:
        # Staff belong in the admin, which decides what each of them may do there.
        role = "supervisor" if request.user.is_staff else "none"
        return render(
            request, "portal.html", {"role": role}, status=200 if role == "supervisor" else 403
        )
    person = person_get(person_id=person.pk)
    # When the current task was handed over: the page counts the time spent on it from here.
    assigned_at = (
        # Through the unique `open_person`: `open().filter(person=…)` reads every past
        # assignment of the person (thousands, after a year) to find the open one.
        Assignment.objects.filter(open_person=person.pk)
        .values_list("assigned_at", flat=True)
        .first()
    )
    complete_url = reverse("tasks-complete", kwargs={"pk": _TASK_ID_PLACEHOLDER})
    config = {
        "person": PersonSerializer(person).data,
        "assignedAt": assigned_at,
        "serverNow": timezone.now(),
        "heartbeatTimeout": settings.QC_HEARTBEAT_TIMEOUT,
        "urls": {
            "login": reverse("personnel-login"),
            "heartbeat": reverse("personnel-heartbeat", kwargs={"pk": person.pk}),
            "logout": reverse("personnel-logout", kwargs={"pk": person.pk}),
            "complete": complete_url.replace(str(_TASK_ID_PLACEHOLDER), "{id}"),
            "queueSize": reverse("tasks-queue-size"),
        },
    }
    return render(
        request,
        "portal.html",
        {"role": "person", "person": person, "portal_config": config},
    )


class SignOutView(LogoutView):
    """Django's sign-out, which first ends the work session: the task goes back to the queue.

    Without this, signing out mid-task would leave the task with the person until the
    heartbeat timeout passed.
    """

    def post(self, request, *args, **kwargs):
        person = Person.objects.filter(user=request.user).first() if request.user.pk else None
        released = []
        if person is not None:
            try:
                released = sessions.person_logout(person_id=person.pk).released
            except DatabaseError:
                # The sweep releases the task once the heartbeat times out; sign out anyway.
                logger.warning("could not end the work session of person %s", person.pk)
        response = super().post(request, *args, **kwargs)
        text = "You signed out."
        if released:
            text += f" Task #{released[0]} went back to the queue."
        messages.info(request, text)
        return response


urlpatterns = [
    path("", portal, name="portal"),
    re_path(r"^portal/?$", portal),
    # Before `django.contrib.auth.urls`, which has the same path and name.
    path("accounts/logout/", SignOutView.as_view(), name="logout"),
]

"""The QC portal: the page QC personnel work in, and its URL configuration.

The page is a thin shell. It renders who is signed in and their state at load time, and
what a review may say (the active defect codes; Pass and Fail instead of Complete when
QC_REQUIRE_OUTCOME is set); every change after that goes through the REST API
(`static/portal/portal.js`). The person comes
from the signed-in user, never from the URL, so nobody can open someone else's page.

Also here: the portal's own change-password pages (Django's views in the portal's look),
the language chooser (Django's `set_language`) and the script's translation catalog.
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView, PasswordChangeDoneView, PasswordChangeView
from django.db import DatabaseError
from django.shortcuts import render
from django.urls import path, re_path, reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.i18n import JavaScriptCatalog, set_language

from tasks import sessions
from tasks.models import NOTES_MAX_LENGTH, Assignment, DefectCode
from tasks.serializers import DefectCodeSerializer

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
    # The review's choices as GET /defect-codes gives them, so that the page shows them at
    # once; the script reads that URL again when work starts and after a refused code.
    defect_codes = DefectCodeSerializer(DefectCode.objects.active(), many=True).data
    config = {
        "person": PersonSerializer(person).data,
        "assignedAt": assigned_at,
        "serverNow": timezone.now(),
        "heartbeatTimeout": settings.QC_HEARTBEAT_TIMEOUT,
        # Pass and Fail instead of Complete: the site requires a verdict (docs/engine.md,
        # "Outcomes").
        "requireOutcome": settings.QC_REQUIRE_OUTCOME,
        "defectCodes": defect_codes,
        "urls": {
            "login": reverse("personnel-login"),
            "heartbeat": reverse("personnel-heartbeat", kwargs={"pk": person.pk}),
            "logout": reverse("personnel-logout", kwargs={"pk": person.pk}),
            "complete": complete_url.replace(str(_TASK_ID_PLACEHOLDER), "{id}"),
            "queueSize": reverse("tasks-queue-size"),
            "defectCodes": reverse("defect-codes-list"),
        },
    }
    return render(
        request,
        "portal.html",
        {
            "role": "person",
            "person": person,
            "portal_config": config,
            "require_outcome": settings.QC_REQUIRE_OUTCOME,
            "notes_max_length": NOTES_MAX_LENGTH,
        },
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
        if released:
            text = _("You signed out. Task #%(id)s went back to the queue.") % {"id": released[0]}
        else:
            text = _("You signed out.")
        messages.info(request, text)
        return response


class _PersonInHeader:
    """Puts the signed-in user's person (if any) in the context, for the page header."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["person"] = Person.objects.filter(user=self.request.user).first()
        return context


class PortalPasswordChangeView(_PersonInHeader, PasswordChangeView):
    """Django's change-password view in the portal's look.

    Its own templates, not `registration/password_change_form.html`: the admin's change
    password page renders that name and keeps the admin's look.
    """

    template_name = "registration/portal_password_change_form.html"
    success_url = reverse_lazy("password_change_done")


class PortalPasswordChangeDoneView(_PersonInHeader, PasswordChangeDoneView):
    template_name = "registration/portal_password_change_done.html"


urlpatterns = [
    path("", portal, name="portal"),
    re_path(r"^portal/?$", portal),
    # Before `django.contrib.auth.urls`, which has the same paths and names.
    path("accounts/logout/", SignOutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        PortalPasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        PortalPasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    # The language chooser posts here; the choice is kept in a cookie (LANGUAGE_COOKIE_AGE).
    path("i18n/setlang/", set_language, name="set_language"),
    # The portal script's strings in the page's language: the project's own catalog
    # (LOCALE_PATHS, locale/*/LC_MESSAGES/djangojs.po). Naming this app keeps the other
    # apps' script catalogs (the admin's calendar, for one) out of the portal's download.
    path(
        "jsi18n/",
        JavaScriptCatalog.as_view(packages=["personnel"]),
        name="javascript-catalog",
    ),
]

"""What a client hears when django-axes refused a sign-in for too many failures (429):
the API's JSON error for the token endpoint and API clients, a page for the browser forms
(the portal's, the admin's, the browsable API's)."""

import math
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

STATUS = 429


def lockout_remaining(request, username: str | None) -> timedelta:
    """How long the lock on `username` from this request's address still holds: failures
    are forgotten AXES_COOLOFF_TIME after the last one counted."""
    from axes.models import AccessAttempt

    cooloff = settings.AXES_COOLOFF_TIME
    last = (
        AccessAttempt.objects.filter(
            username=username, ip_address=getattr(request, "axes_ip_address", None)
        )
        .aggregate(last=Max("attempt_time"))
        .get("last")
    )
    if last is None:
        return cooloff
    return max(timedelta(seconds=1), last + cooloff - timezone.now())


def lockout_minutes(remaining: timedelta) -> int:
    return max(1, math.ceil(remaining.total_seconds() / 60))


def lockout_message(remaining: timedelta) -> str:
    """The API's message (English, as every API message; the page says it in the page's
    language, registration/locked_out.html)."""
    minutes = lockout_minutes(remaining)
    return (
        "Too many failed sign-ins for this username from this address. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}, or ask a supervisor to unlock it."
    )


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE. The token endpoint has answered already (its own 429, through
    the API's error handling); everything else gets the lockout page, or JSON for a client
    that asked for JSON."""
    if original_response is not None and original_response.status_code == STATUS:
        return original_response
    username = (credentials or {}).get("username")
    remaining = lockout_remaining(request, username)
    message = lockout_message(remaining)
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": message, "code": "locked_out"}, status=STATUS)
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": message, "minutes": lockout_minutes(remaining), "username": username},
            status=STATUS,
        )
    response["Retry-After"] = str(math.ceil(remaining.total_seconds()))
    return response

"""The supervisor dashboard: an admin page over `tasks.selectors.dashboard_get`, and the
same figures as JSON (`dashboard/data/`), which the page fetches to refresh itself without
a reload (static/dashboard/dashboard.js)."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from tasks import selectors
from tasks.models import EndReason, TaskStatus

from .interventions import can_intervene

REFRESH_SECONDS = 15


def _window(request) -> str:
    window = request.GET.get("window", "hour")
    return window if window in selectors.WINDOWS else "hour"


def _check(request) -> None:
    if not request.user.has_perm("tasks.view_dashboard"):
        raise PermissionDenied


def dashboard_view(model_admin, request):
    _check(request)
    window = _window(request)
    d = selectors.dashboard_get(window=window)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": _("Supervisor dashboard"),
        "d": d,
        "windows": [(key, label) for key, (label, _span) in selectors.WINDOWS.items()],
        "refresh_seconds": REFRESH_SECONDS,
        "can_intervene": can_intervene(request),
        "disputes_url": disputes_url(),
        "time_zone": settings.TIME_ZONE,
        "dashboard_config": {
            "dataUrl": reverse("admin:tasks_dashboard_data"),
            "refreshSeconds": REFRESH_SECONDS,
            "timeZone": settings.TIME_ZONE,
            "canIntervene": can_intervene(request),
            "personUrl": reverse("admin:personnel_person_change", args=[0]),
            "taskUrl": reverse("admin:tasks_task_change", args=[0]),
            "signOutUrl": reverse("admin:personnel_person_sign_out", args=[0]),
            "releaseUrl": reverse("admin:tasks_task_release", args=[0]),
            "disputesUrl": disputes_url(),
            "data": dashboard_data(d),
        },
    }
    return TemplateResponse(request, "admin/tasks/dashboard.html", context)


def disputes_url() -> str:
    """The task list filtered to the disputed tasks."""
    return reverse("admin:tasks_task_changelist") + f"?status__exact={TaskStatus.DISPUTED}"


def dashboard_data_view(model_admin, request):
    """The dashboard's figures as JSON, for its refresh (supervisors with the dashboard
    permission only, like the page; never cached, as every admin view)."""
    _check(request)
    return JsonResponse(dashboard_data(selectors.dashboard_get(window=_window(request))))


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds(), 3)


def dashboard_data(d: selectors.Dashboard) -> dict:
    """Everything the page shows, in plain JSON: durations in seconds, times as Unix
    seconds and as ISO 8601 in the site's zone."""
    local_now = timezone.localtime(d.now)
    charts = d.charts
    return {
        "now": local_now.isoformat(),
        "nowEpoch": d.now.timestamp(),
        "timeZone": settings.TIME_ZONE,
        "window": d.window,
        "queue": {
            "pending": d.queue.pending,
            "inProgress": d.queue.in_progress,
            "oldestPendingAge": _seconds(d.queue.oldest_pending_age),
        },
        "people": {
            "working": d.people.working,
            "idle": d.people.idle,
            "signedOut": d.people.signed_out,
            "rows": [
                {
                    "id": p.id,
                    "name": p.name,
                    "taskId": p.task_id,
                    "taskDescription": p.task_description,
                    "timeOnTask": _seconds(p.time_on_task),
                    "sinceHeartbeat": _seconds(p.since_heartbeat),
                    "completedToday": p.completed_today,
                }
                for p in d.people.rows
            ],
        },
        "flow": {
            "since": timezone.localtime(d.flow.since).isoformat(),
            "created": d.flow.created,
            "assigned": d.flow.assigned,
            "completed": d.flow.completed,
            "released": [
                {"reason": reason, "label": EndReason(reason).label, "n": n}
                for reason, n in d.flow.released.items()
            ],
            "waitMedian": d.flow.wait_median,
            "waitP90": d.flow.wait_p90,
            "handleMedian": d.flow.handle_median,
            "handleP90": d.flow.handle_p90,
            "waitSample": d.flow.wait_sample,
            "handleSample": d.flow.handle_sample,
        },
        "assigners": [
            {
                "name": a.name,
                "sinceLastCycle": _seconds(a.since_last_cycle),
                "lastCycleSeconds": a.last_cycle_seconds,
                "cycles": a.cycles,
            }
            for a in d.assigners
        ],
        "charts": {
            "hours": [int(h.timestamp()) for h in charts.hours],
            "created": charts.created,
            "completed": charts.completed,
            "waitP50": charts.wait_p50,
            "waitP90": charts.wait_p90,
        },
        "outcomes": _outcomes(d.outcomes),
    }


def _outcomes(o: selectors.OutcomeStats | None) -> dict | None:
    """Reviews in the window: rates are shares (0 to 1), None when nothing to divide."""
    if o is None:
        return None
    return {
        "pass": o.passed,
        "fail": o.failed,
        "failRate": o.fail_rate,
        "disputesWaiting": o.disputes_waiting,
        "topDefects": [
            {"code": row.code, "description": row.description, "n": row.n} for row in o.top_defects
        ],
        "reviewers": [
            {
                "id": r.id,
                "name": r.name,
                "reviews": r.reviews,
                "verdicts": r.verdicts,
                "fails": r.fails,
                "failRate": r.fail_rate,
                "compared": r.compared,
                "agreed": r.agreed,
                "agreement": r.agreement,
            }
            for r in o.reviewers
        ],
    }

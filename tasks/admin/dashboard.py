"""The supervisor dashboard: an admin page over `tasks.selectors.dashboard_get`."""

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from tasks import selectors

from .interventions import can_intervene

REFRESH_SECONDS = 15


def dashboard_view(model_admin, request):
    if not request.user.has_perm("tasks.view_dashboard"):
        raise PermissionDenied
    window = request.GET.get("window", "hour")
    if window not in selectors.WINDOWS:
        window = "hour"
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Supervisor dashboard",
        "d": selectors.dashboard_get(window=window),
        "windows": [(key, label) for key, (label, _) in selectors.WINDOWS.items()],
        "refresh_seconds": REFRESH_SECONDS,
        "can_intervene": can_intervene(request),
    }
    return TemplateResponse(request, "admin/tasks/dashboard.html", context)

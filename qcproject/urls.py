from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from events.api import EventsView
from personnel.api import PersonnelViewSet
from personnel.auth_views import LogoutView, ObtainTokenView
from qcproject.api import OptionalSlashRouter
from tasks.api import DefectCodesViewSet, TasksViewSet
from tasks.metrics import metrics
from tasks.queue_size import QueueSizeView

from .views import healthz

admin.site.site_header = "qc-assign"
admin.site.site_title = "qc-assign"
admin.site.index_title = _("Supervisor workspace")

router = OptionalSlashRouter()
router.register("personnel", PersonnelViewSet, basename="personnel")
router.register("tasks", TasksViewSet, basename="tasks")
router.register("defect-codes", DefectCodesViewSet, basename="defect-codes")

urlpatterns = [
    # The API first: its requests are most of the traffic (a heartbeat every few seconds per
    # person), and Django tries the patterns in order. No other pattern overlaps its paths.
    path("", include(router.urls)),
    path("admin/", admin.site.urls),
    re_path(r"^auth/token/?$", ObtainTokenView.as_view(), name="auth-token"),
    re_path(r"^auth/logout/?$", LogoutView.as_view(), name="auth-logout"),
    re_path(r"^healthz/?$", healthz, name="healthz"),
    re_path(r"^metrics/?$", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
    # Not a router action: the permission matrix covers the router; this has its own tests.
    re_path(r"^tasks/queue/size/?$", QueueSizeView.as_view(), name="tasks-queue-size"),
    re_path(r"^events/?$", EventsView.as_view(), name="events"),
    # The QC portal (`/`, `/portal/`); its sign-out ends the work session, then Django's.
    path("", include("personnel.portal")),
    path("accounts/", include("django.contrib.auth.urls")),
]

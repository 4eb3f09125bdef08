from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from events.api import EventsView
from personnel.api import PersonnelViewSet
from qcproject.api import OptionalSlashRouter
from tasks.api import TasksViewSet
from tasks.metrics import metrics
from tasks.queue_size import QueueSizeView

from .views import healthz, obtain_auth_token

admin.site.site_header = "qc-assign"
admin.site.site_title = "qc-assign"
admin.site.index_title = "Supervisor workspace"

router = OptionalSlashRouter()
router.register("personnel", PersonnelViewSet, basename="personnel")
router.register("tasks", TasksViewSet, basename="tasks")

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^auth/token/?$", obtain_auth_token, name="auth-token"),
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
    path("", include(router.urls)),
]

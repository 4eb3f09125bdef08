"""The product's URLs, plus the baseline of the heartbeat case.

`POST /bench/bare-heartbeat/<id>` is Django without DRF and without authentication doing
the same single UPDATE as `person_heartbeat`: what "Django itself" costs for a heartbeat,
through the same middleware, gunicorn and database connection settings.
"""

from django.conf import settings
from django.db import connection
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from qcproject.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def bare_heartbeat(request, pk: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE qc_personnel SET last_heartbeat = NOW(6) WHERE id = %s AND is_logged_in"
            " AND last_heartbeat >= NOW(6) - INTERVAL %s SECOND",
            [pk, settings.QC_HEARTBEAT_TIMEOUT],
        )
        alive = cursor.rowcount
    return JsonResponse({"id": pk, "alive": bool(alive)}, status=200 if alive else 409)


urlpatterns = [
    path("bench/bare-heartbeat/<int:pk>", bare_heartbeat, name="bench-bare-heartbeat"),
    *product_urlpatterns,
]

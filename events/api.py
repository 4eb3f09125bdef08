from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from qcproject.api import is_supervisor

from . import selectors, services
from .models import EventType
from .serializers import EventPageSerializer, EventsQuerySerializer

_DESCRIPTION = (
    "Events, oldest first, after the id `after` (0: from the oldest kept). Resume from "
    "`last_id` (or follow `next`) to get every event once, in order; an event becomes "
    "visible only with every event before it in this order. Types: "
    + ", ".join(f"`{t}`" for t in EventType.values)
    + ". Supervisors and integration accounts (the Integrations group) may read events."
)


class CanReadEvents(permissions.BasePermission):
    message = "Only supervisors and integration accounts may read events."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return is_supervisor(user) or user.has_perm("events.read_events")


class EventsView(APIView):
    """The events: every change of tasks and work sessions (docs/events.md). A page is an
    object with a cursor, not a list (so not a router's list action)."""

    permission_classes = [CanReadEvents]

    @extend_schema(
        description=_DESCRIPTION,
        parameters=[
            OpenApiParameter("after", int, description="Events with an id above this one."),
            OpenApiParameter(
                "types", str, description="Only these types, comma-separated.", explode=False
            ),
            OpenApiParameter("limit", int, description="At most this many (1–1000, 100)."),
        ],
        responses={
            200: EventPageSerializer,
            400: OpenApiResponse(description="A bad parameter"),
        },
    )
    def get(self, request):
        """Events after an id, oldest first (supervisors, integration accounts)."""
        query = EventsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data["after"], query.validated_data["limit"]
        types = query.validated_data.get("types") or []
        # Events committed since the delivery workers last ran become visible now.
        services.events_sequence(limit=services.SEQUENCE_BATCH)
        events = selectors.events_after(after=after, types=types, limit=limit + 1)
        has_more = len(events) > limit
        events = events[:limit]
        last_id = events[-1].seq if events else after
        params = {"after": last_id, "limit": limit}
        if types:
            params["types"] = ",".join(types)
        return Response(
            {
                "next": request.build_absolute_uri(request.path) + "?" + urlencode(params),
                "has_more": has_more,
                "last_id": last_id,
                "results": [selectors.event_payload(e) for e in events],
            }
        )

"""`GET /tasks/queue/size`: how many tasks wait, for the QC portal's waiting screen.

The queue itself (`GET /tasks/queue`) is for supervisors: it lists every open task and who
holds it. Its size tells a QC person nothing about anyone else's work, so they may read it.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from qcproject.api import IsSupervisorOrQCPerson

from .models import Task


class QueueSizeView(APIView):
    permission_classes = [IsSupervisorOrQCPerson]

    @extend_schema(
        operation_id="tasks_queue_size",
        responses={
            200: inline_serializer("QueueSize", {"pending": serializers.IntegerField()}),
            401: OpenApiResponse(description="Not authenticated"),
            403: OpenApiResponse(description="Neither QC personnel nor a supervisor"),
        },
    )
    def get(self, request):
        """The number of pending tasks (QC personnel and supervisors)."""
        # A count over the `qc_tasks_queue` index's status prefix: no row is read.
        return Response({"pending": Task.objects.pending().count()})

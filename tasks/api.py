from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from personnel.api import _validated
from qcproject.api import IsSupervisor, IsSupervisorOrQCPerson, acting_person_id, is_supervisor

from . import services
from .models import Task
from .serializers import TaskCompleteSerializer, TaskCreateSerializer, TaskSerializer


class TasksViewSet(viewsets.GenericViewSet):
    """QC tasks: creation, completion, the queue."""

    serializer_class = TaskSerializer
    permission_classes = [IsSupervisor]
    queryset = Task.objects.all()
    lookup_value_regex = r"\d+"

    def get_permissions(self):
        if self.action == "complete":
            return [IsSupervisorOrQCPerson()]
        return super().get_permissions()

    @extend_schema(
        request=TaskCreateSerializer,
        responses={201: TaskSerializer, 400: None},
        description="Create one task, or send a JSON list of them to create all in one "
        "transaction (all or none); the answer is then a list.",
    )
    def create(self, request):
        """Create one task or many (supervisor)."""
        many = isinstance(request.data, list)
        if not many and not isinstance(request.data, dict):
            raise ValidationError({"detail": ["Send an object or a list of objects."]})
        data = _validated(TaskCreateSerializer, request.data, many=many)
        items = data if many else [data]
        tasks = services.task_create(descriptions=[item["description"] for item in items])
        body = TaskSerializer(tasks, many=True).data if many else TaskSerializer(tasks[0]).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={
            200: TaskCompleteSerializer,
            401: OpenApiResponse(description="Not authenticated"),
            403: OpenApiResponse(description="The task is not yours"),
            404: OpenApiResponse(description="No such task"),
            409: OpenApiResponse(description="The task is not in progress for that person"),
        },
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk: str):
        """Complete a task; the answer carries the next task, already assigned."""
        person_id = None if is_supervisor(request.user) else acting_person_id(request.user)
        result = services.task_complete(task_id=int(pk), person_id=person_id)
        result.task.next_task = result.next_task
        return Response(TaskCompleteSerializer(result.task).data)

    @extend_schema(responses={200: TaskSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def queue(self, request):
        """Pending and in-progress tasks, oldest first, paginated (supervisor)."""
        page = self.paginate_queryset(Task.objects.open())
        return self.get_paginated_response(TaskSerializer(page, many=True).data)

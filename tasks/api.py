from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from qcproject.api import (
    CanIntervene,
    IsSupervisor,
    IsSupervisorOrQCPerson,
    acting_person_id,
    is_supervisor,
    validated_body,
)

from . import interventions, openapi, services
from .models import DefectCode, Task
from .serializers import (
    DefectCodeSerializer,
    TaskCompleteSerializer,
    TaskCreateSerializer,
    TaskDeclineSerializer,
    TaskDetailSerializer,
    TaskReassignSerializer,
    TaskResolveSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
    TaskVerdictSerializer,
)

_INTERVENTION_RESPONSES = {
    200: TaskSerializer,
    400: OpenApiResponse(description="Malformed body"),
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Not a supervisor"),
    404: OpenApiResponse(description="No such task or person"),
    409: OpenApiResponse(description="The task or person is not in a state that allows it"),
}


# What a well-formed verdict holds, each of its type (`_verdict`).
_VERDICT_TYPES = {"outcome": str, "notes": str, "defects": list}


def _verdict(data) -> dict:
    """The verdict of a complete's body, for the service (`tasks.reviews.verdict_clean` is
    the rule). A complete is the most frequent request: a bare one (no body) and a
    well-formed one (known keys of the right types, codes as strings) go straight to the
    service, which checks the values; anything else goes through the serializer, which
    answers as for every other body (field errors, unknown fields), a falsy body that is not
    an object (`[]`, `false`, `0`, `""`) too: a 400, not a complete without a verdict."""
    if isinstance(data, dict) and not data:  # no body, or `{}`
        return {}
    if (
        isinstance(data, dict)
        and all(isinstance(data.get(k, ""), t) for k, t in _VERDICT_TYPES.items())
        and data.keys() <= _VERDICT_TYPES.keys()
        and all(isinstance(code, str) for code in data.get("defects", ()))
    ):
        return data
    return dict(validated_body(TaskVerdictSerializer, data))


class TasksViewSet(viewsets.GenericViewSet):
    """QC tasks: creation, completion, the queue."""

    serializer_class = TaskSerializer
    permission_classes = [IsSupervisor]
    queryset = Task.objects.all()
    lookup_value_regex = "[0-9]+"

    def get_permissions(self):
        if self.action in ("complete", "decline"):
            return [IsSupervisorOrQCPerson()]
        if self.action in ("release", "reassign", "cancel", "resolve"):
            return [CanIntervene()]
        return super().get_permissions()

    @extend_schema(
        responses={200: TaskDetailSerializer, 404: OpenApiResponse(description="No such task")}
    )
    def retrieve(self, request, pk: str):
        """One task, with its reviews (supervisor)."""
        return Response(TaskDetailSerializer(self.get_object()).data)

    @extend_schema(
        request=openapi.TASK_CREATE_REQUEST,
        responses={201: openapi.TASK_CREATED, 400: openapi.CREATE_REFUSED},
        description="Create one task, or send a JSON list of them to create all in one "
        "transaction (all or none); the answer is then a list.",
        examples=openapi.CREATE_EXAMPLES,
    )
    def create(self, request):
        """Create one task or many (supervisor)."""
        many = isinstance(request.data, list)
        if not many and not isinstance(request.data, dict):
            raise ValidationError({"detail": ["Send an object or a list of objects."]})
        if many:
            # An item that is not an object is that item's error, in the shape every other
            # item error has (the schema's ListValidationError), not a bare message.
            not_objects = {
                str(index): {"non_field_errors": ["Send an object for each task."]}
                for index, item in enumerate(request.data)
                if not isinstance(item, dict)
            }
            if not_objects:
                raise ValidationError(not_objects)
        data = validated_body(TaskCreateSerializer, request.data, many=many, context={})
        items = data if many else [data]
        tasks = services.task_create(tasks=[services.NewTask(**item) for item in items])
        body = TaskSerializer(tasks, many=True).data if many else TaskSerializer(tasks[0]).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=TaskVerdictSerializer,
        responses={
            200: TaskCompleteSerializer,
            400: OpenApiResponse(
                description="A verdict that is not pass or fail (or none where the site "
                "requires one), notes too long, or a defect code not in the active catalogue"
            ),
            401: OpenApiResponse(description="Not authenticated"),
            403: OpenApiResponse(description="The task is not yours"),
            404: OpenApiResponse(description="No such task"),
            409: openapi.COMPLETE_REFUSED,
        },
        examples=openapi.COMPLETE_EXAMPLES,
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk: str):
        """Complete a task, with the reviewer's verdict (optional unless the site requires
        one); the answer carries the next task, already assigned."""
        verdict = _verdict(request.data)
        holder_id = verdict.pop("person_id", None)
        supervisor = is_supervisor(request.user)
        if holder_id is not None and not supervisor:
            raise ValidationError(
                {"person_id": ["Only a supervisor completes for someone; leave it out."]}
            )
        person_id = None if supervisor else acting_person_id(request.user)
        result = services.task_complete(
            task_id=int(pk), person_id=person_id, holder_id=holder_id, **verdict
        )
        result.task.next_task = result.next_task
        body = TaskCompleteSerializer(result.task, context={"blind": person_id is not None})
        return Response(body.data)

    @extend_schema(
        request=TaskUpdateSerializer,
        responses={
            200: TaskSerializer,
            400: OpenApiResponse(description="Invalid values (field errors)"),
            401: OpenApiResponse(description="Not authenticated"),
            403: OpenApiResponse(description="Not a supervisor"),
            404: OpenApiResponse(description="No such task"),
            409: OpenApiResponse(description="The task is not pending"),
        },
        description="Change the routing of a pending task: its priority (0–9), skill, time "
        "limit or expiry. Recorded in the audit trail.",
    )
    def partial_update(self, request, pk: str):
        """Change a pending task's priority, skill, time limit or expiry (supervisor)."""
        data = validated_body(TaskUpdateSerializer, request.data, context={})
        task = services.task_update(actor=request.user, task_id=int(pk), changes=dict(data))
        return Response(TaskSerializer(task).data)

    @extend_schema(
        request=TaskDeclineSerializer,
        responses={
            200: TaskCompleteSerializer,
            400: OpenApiResponse(description="No reason, or a reason too long"),
            401: OpenApiResponse(description="Not authenticated"),
            403: OpenApiResponse(description="The task is not yours"),
            404: OpenApiResponse(description="No such task"),
            409: OpenApiResponse(description="The task is not in progress for that person"),
        },
        description="Hand back a task in progress, saying why: it goes back to the queue "
        "with its place, is never offered to that person again, and the answer carries "
        "their next task, already assigned. A supervisor may decline for the holder.",
    )
    @action(detail=True, methods=["post"])
    def decline(self, request, pk: str):
        """Decline a task in progress; the answer carries the next task, already assigned."""
        data = validated_body(TaskDeclineSerializer, request.data)
        supervisor = is_supervisor(request.user)
        result = services.task_decline(
            task_id=int(pk),
            reason=data["reason"],
            person_id=None if supervisor else acting_person_id(request.user),
            actor=request.user if supervisor else None,
        )
        result.task.next_task = result.next_task
        body = TaskCompleteSerializer(result.task, context={"blind": not supervisor})
        return Response(body.data)

    @extend_schema(request=None, responses=_INTERVENTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def release(self, request, pk: str):
        """Put an in-progress task back in the queue, keeping its place (supervisor
        intervention, audited). Its holder moves on to another task."""
        result = interventions.task_release(actor=request.user, task_id=int(pk))
        return Response(TaskSerializer(result.task).data)

    @extend_schema(request=TaskReassignSerializer, responses=_INTERVENTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk: str):
        """Give a task to a chosen person who is signed in and free (supervisor
        intervention, audited)."""
        data = validated_body(TaskReassignSerializer, request.data)
        result = interventions.task_reassign(
            actor=request.user, task_id=int(pk), person_id=data["person_id"]
        )
        return Response(TaskSerializer(result.task).data)

    @extend_schema(request=None, responses=_INTERVENTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk: str):
        """Cancel a task that should not be done (supervisor intervention, audited)."""
        result = interventions.task_cancel(actor=request.user, task_id=int(pk))
        return Response(TaskSerializer(result.task).data)

    @extend_schema(
        request=TaskResolveSerializer,
        responses={
            **_INTERVENTION_RESPONSES,
            400: OpenApiResponse(description="No such outcome, or no note"),
            409: OpenApiResponse(description="The task is not disputed"),
        },
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk: str):
        """Resolve a disputed task (its reviews disagreed) with the final outcome and a
        note: it becomes COMPLETED (supervisor intervention, audited)."""
        data = validated_body(TaskResolveSerializer, request.data)
        result = interventions.task_resolve(actor=request.user, task_id=int(pk), **data)
        return Response(TaskDetailSerializer(result.task).data)

    @extend_schema(responses={200: TaskSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def queue(self, request):
        """Pending and in-progress tasks, oldest first, paginated (supervisor)."""
        page = self.paginate_queryset(Task.objects.open())
        return self.get_paginated_response(TaskSerializer(page, many=True).data)


class DefectCodesViewSet(viewsets.GenericViewSet):
    """The catalogue of defect codes a review may log (kept by supervisors in the admin)."""

    serializer_class = DefectCodeSerializer
    permission_classes = [IsSupervisorOrQCPerson]
    pagination_class = None

    @extend_schema(responses={200: DefectCodeSerializer(many=True)})
    def list(self, request):
        """The active defect codes, by code: what `defects` of a complete may hold."""
        codes = DefectCode.objects.active()
        return Response(DefectCodeSerializer(codes, many=True).data)

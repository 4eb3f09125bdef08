from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from qcproject.api import (
    CanIntervene,
    IsSupervisor,
    IsSupervisorOrQCPerson,
    acting_person_id,
    is_supervisor,
    validated_body,
)
from tasks import sessions

from . import services
from .models import Person
from .selectors import person_get, person_list_with_tasks
from .serializers import (
    PersonCreateSerializer,
    PersonLoginSerializer,
    PersonSerializer,
    PersonUpdateSerializer,
)

_ERRORS = {
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Acting for someone else"),
    404: OpenApiResponse(description="No such person"),
}


def check_acts_for(request, person_id: int) -> None:
    """A supervisor acts for anyone; a QC person only for themselves (404, then 403)."""
    if is_supervisor(request.user):
        if not Person.objects.filter(pk=person_id).exists():
            raise NotFound(f"Person {person_id} does not exist.")
        return
    if acting_person_id(request.user) == person_id:
        return
    if not Person.objects.filter(pk=person_id).exists():
        raise NotFound(f"Person {person_id} does not exist.")
    raise PermissionDenied("You may only act for yourself.")


class PersonnelViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """QC personnel and their work sessions."""

    serializer_class = PersonSerializer
    permission_classes = [IsSupervisorOrQCPerson]
    queryset = Person.objects.all()
    lookup_value_regex = r"[0-9]+"

    def get_permissions(self):
        if self.action in ("create", "list", "status", "partial_update"):
            return [IsSupervisor()]
        if self.action == "sign_out":
            return [CanIntervene()]
        return super().get_permissions()

    def list(self, request):
        """All QC personnel (supervisor), paginated, by name."""
        page = self.paginate_queryset(Person.objects.order_by("name", "id"))
        people = person_list_with_tasks(page)
        return self.get_paginated_response(PersonSerializer(people, many=True).data)

    @extend_schema(request=PersonCreateSerializer, responses={201: PersonSerializer, 400: None})
    def create(self, request):
        """Create a login and a QC person (supervisor)."""
        data = validated_body(PersonCreateSerializer, request.data)
        person = services.person_create(**data)
        person.current_task = None
        return Response(PersonSerializer(person).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: PersonSerializer, **_ERRORS})
    def retrieve(self, request, pk: str):
        """One person with their current task (self or supervisor)."""
        check_acts_for(request, int(pk))
        return Response(PersonSerializer(person_get(person_id=int(pk))).data)

    @extend_schema(
        request=PersonUpdateSerializer,
        responses={
            200: PersonSerializer,
            400: OpenApiResponse(description="Invalid skills (field errors)"),
            409: OpenApiResponse(description="A skill their task in progress needs"),
            **_ERRORS,
        },
    )
    def partial_update(self, request, pk: str):
        """Set a person's skills (supervisor, audited): a task with a skill goes only to
        people who have it."""
        data = validated_body(PersonUpdateSerializer, request.data)
        services.person_skills_set(actor=request.user, person_id=int(pk), skills=data["skills"])
        return Response(PersonSerializer(person_get(person_id=int(pk))).data)

    @extend_schema(
        request=PersonLoginSerializer,
        responses={200: PersonSerializer, 400: None, **_ERRORS},
    )
    @action(detail=False, methods=["post"])
    def login(self, request):
        """Start work: begins the session and assigns a pending task at once."""
        data = validated_body(PersonLoginSerializer, request.data)
        person_id = data.get("person_id") or acting_person_id(request.user)
        if person_id is None:
            raise ValidationError({"person_id": ["This field is required."]})
        check_acts_for(request, person_id)
        return Response(PersonSerializer(sessions.person_login(person_id=person_id)).data)

    @extend_schema(request=None, responses={200: PersonSerializer, **_ERRORS})
    @action(detail=True, methods=["post"])
    def logout(self, request, pk: str):
        """Stop work: ends the session; the task in progress goes back to the queue."""
        check_acts_for(request, int(pk))
        result = sessions.person_logout(person_id=int(pk))
        return Response(PersonSerializer(result.person).data)

    @extend_schema(
        request=None,
        responses={
            200: PersonSerializer,
            409: OpenApiResponse(description="The session expired or was never started"),
            **_ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def heartbeat(self, request, pk: str):
        """Keep the session alive; answers with the current task."""
        check_acts_for(request, int(pk))
        return Response(PersonSerializer(sessions.person_heartbeat(person_id=int(pk))).data)

    @extend_schema(
        request=None,
        responses={
            200: PersonSerializer,
            409: OpenApiResponse(description="The person is not signed in"),
            **_ERRORS,
        },
    )
    @action(detail=True, methods=["post"], url_path="sign-out")
    def sign_out(self, request, pk: str):
        """Sign a person out now (supervisor intervention, audited); their task goes back
        to the queue."""
        sessions.person_sign_out(actor=request.user, person_id=int(pk))
        return Response(PersonSerializer(person_get(person_id=int(pk))).data)

    @extend_schema(responses={200: PersonSerializer(many=True)})
    # Not paginated: the answer is the whole list, and the schema must say so.
    @action(detail=False, methods=["get"], pagination_class=None)
    def status(self, request):
        """Signed-in personnel with their current tasks (supervisor)."""
        people = person_list_with_tasks(Person.objects.logged_in().order_by("name", "id"))
        return Response(PersonSerializer(people, many=True).data)

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from qcproject.api import (
    CanIntervene,
    CanManageLogins,
    IsSupervisor,
    IsSupervisorOrQCPerson,
    acting_person_id,
    is_supervisor,
    validated_body,
)
from tasks import sessions

from . import openapi, services
from .models import Person
from .selectors import person_get, person_list_with_tasks
from .serializers import (
    AccountSerializer,
    ApiTokenSerializer,
    PasswordSerializer,
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


# Actions that change a login: `personnel.manage_login`.
_LOGIN_ACTIONS = frozenset({"set_password", "deactivate", "reactivate", "tokens", "token"})
_LOGIN_ERRORS = {
    403: OpenApiResponse(description="Not a supervisor, or a staff login (superusers only)"),
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
    lookup_value_regex = "[0-9]+"

    def get_permissions(self):
        if self.action in ("create", "list", "status", "account", "partial_update"):
            return [IsSupervisor()]
        if self.action == "tokens" and self.request.method == "GET":
            return [IsSupervisor()]
        if self.action in _LOGIN_ACTIONS:
            return [CanManageLogins()]
        if self.action == "sign_out":
            return [CanIntervene()]
        return super().get_permissions()

    def list(self, request):
        """All QC personnel (supervisor), paginated, by name."""
        page = self.paginate_queryset(Person.objects.order_by("name", "id"))
        people = person_list_with_tasks(page)
        return self.get_paginated_response(PersonSerializer(people, many=True).data)

    @extend_schema(request=PersonCreateSerializer, responses={201: PersonSerializer})
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
        responses={200: PersonSerializer, **_ERRORS},
        examples=openapi.SIGN_IN_EXAMPLES,
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

    @extend_schema(
        request=None,
        responses={200: PersonSerializer, **_ERRORS},
        examples=[openapi.PERSON_SIGNED_OUT],
    )
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
            409: openapi.HEARTBEAT_REFUSED,
            **_ERRORS,
        },
        examples=[openapi.PERSON_WORKING, openapi.PERSON_WAITING],
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
            409: openapi.NOT_SIGNED_IN,
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

    # --- the person's login (supervisors) -----------------------------------------------------

    @extend_schema(responses={200: AccountSerializer, 404: _ERRORS[404]})
    @action(detail=True, methods=["get"])
    def account(self, request, pk: str):
        """The person's login: username, active or not, last sign-in, unexpired API tokens
        (supervisor)."""
        return _account(services.account_get(person_id=int(pk)))

    @extend_schema(
        request=PasswordSerializer,
        responses={200: AccountSerializer, 400: None, **_LOGIN_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="set-password")
    def set_password(self, request, pk: str):
        """Set the person's password (supervisor, audited). Their API tokens and browser
        sessions end; they sign in with the new password."""
        data = validated_body(PasswordSerializer, request.data)
        person = services.account_set_password(
            actor=request.user, person_id=int(pk), password=data["password"]
        )
        return _account(person)

    @extend_schema(
        request=None,
        responses={
            200: AccountSerializer,
            409: OpenApiResponse(description="The login is deactivated already"),
            **_LOGIN_ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk: str):
        """Deactivate the person's login (supervisor, audited): a work session in progress
        ends and its task goes back to the queue; their API tokens end; nobody signs in
        with it until it is reactivated."""
        return _account(services.account_deactivate(actor=request.user, person_id=int(pk)))

    @extend_schema(
        request=None,
        responses={
            200: AccountSerializer,
            409: OpenApiResponse(description="The login is active already"),
            **_LOGIN_ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk: str):
        """Reactivate the person's login (supervisor, audited); they sign in again with
        their password."""
        return _account(services.account_reactivate(actor=request.user, person_id=int(pk)))

    @extend_schema(
        methods=["GET"],
        operation_id="personnel_tokens_list",
        responses={200: ApiTokenSerializer(many=True), 404: _ERRORS[404]},
    )
    @extend_schema(
        methods=["DELETE"],
        operation_id="personnel_tokens_revoke_all",
        responses={204: None, 404: _ERRORS[404]},
    )
    # Not paginated: a person has a handful of tokens, and the schema must say so.
    @action(detail=True, methods=["get", "delete"], pagination_class=None)
    def tokens(self, request, pk: str):
        """GET: the person's unexpired API tokens, without the tokens themselves
        (supervisor). DELETE: end all of them (supervisor, audited)."""
        if request.method == "GET":
            tokens = services.person_tokens(person_id=int(pk))
            return Response(ApiTokenSerializer(tokens, many=True).data)
        services.person_tokens_revoke(actor=request.user, person_id=int(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(operation_id="personnel_token_revoke", responses={204: None, 404: _ERRORS[404]})
    @action(
        detail=True,
        methods=["delete"],
        url_path="tokens/(?P<token_id>[0-9]+)",
        url_name="token",
    )
    def token(self, request, pk: str, token_id: str):
        """End one of the person's API tokens (supervisor, audited)."""
        services.person_tokens_revoke(actor=request.user, person_id=int(pk), token_id=int(token_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _account(person) -> Response:
    user = person.user
    tokens = services.person_tokens(person_id=person.pk)
    return Response(
        AccountSerializer(
            {
                "username": user.get_username(),
                "is_active": user.is_active,
                "last_login": user.last_login,
                "tokens": tokens,
            }
        ).data
    )

"""What the REST API shares: error mapping, pagination, permissions, routing (the OpenAPI
schema's shared parts: `qcproject.schema`)."""

import functools
import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import exception_handler as drf_exception_handler

from qcproject.exceptions import DomainError

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Map domain and database errors to clear 4xx/503 answers; DRF handles the rest."""
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        data = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(data, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        # The database refused a write that raced another one; nothing was written.
        logger.warning("integrity error in %s: %s", context.get("view"), exc)
        return Response(
            {
                "detail": "A concurrent change conflicted with this request; retry.",
                "code": "conflict",
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        return Response(
            {"detail": "The database is unavailable; retry shortly.", "code": "unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return Response(
            {"detail": "The request could not be stored.", "code": "database_error"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", None)
        if code:
            response.data["code"] = code
    return response


class QueuePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def is_supervisor(user) -> bool:
    """Supervisors are active staff users with the `tasks.supervise` permission (the
    Supervisors group gives it; superusers have every permission)."""
    return bool(
        user and user.is_authenticated and user.is_staff and user.has_perm("tasks.supervise")
    )


class IsSupervisor(permissions.BasePermission):
    message = "Only a supervisor may do this."

    def has_permission(self, request, view):
        return is_supervisor(request.user)


class CanIntervene(permissions.BasePermission):
    """Interventions (sign out, release, reassign, cancel) need `tasks.intervene`."""

    message = "Only a supervisor may intervene."

    def has_permission(self, request, view):
        return is_supervisor(request.user) and request.user.has_perm("tasks.intervene")


class CanManageLogins(permissions.BasePermission):
    """Setting passwords, deactivating and reactivating logins, revoking API tokens need
    `personnel.manage_login`."""

    message = "Only a supervisor may manage logins."

    def has_permission(self, request, view):
        return is_supervisor(request.user) and request.user.has_perm("personnel.manage_login")


class IsSupervisorOrQCPerson(permissions.BasePermission):
    """A supervisor, or a user linked to a QC person."""

    message = "Only QC personnel and supervisors may do this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return is_supervisor(user) or acting_person_id(user) is not None


def acting_person_id(user) -> int | None:
    """The id of the QC person this user is, or None."""
    person = getattr(user, "person", None) if user.is_authenticated else None
    return person.pk if person is not None else None


def validated_body(serializer_class, data, **kwargs):
    """Validate a request body; return the validated data.

    Stricter than DRF for JSON bodies: a field the serializer does not take (unknown or
    read-only) and a number or boolean where a string is expected are errors (400), not
    silently ignored or converted; a client that sends `"status": "COMPLETED"` hears of it.
    """
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    many = kwargs.get("many", False)
    rules = _field_rules(serializer_class)
    errors = {}
    for index, item in enumerate(data if many else [data]):
        problems = _strict_problems(rules, item)
        if problems:
            errors[str(index)] = problems
    if errors:
        raise ValidationError(errors if many else errors["0"])
    return serializer.validated_data


@functools.cache
def _field_rules(serializer_class) -> tuple[frozenset[str], frozenset[str]]:
    """The fields a body may carry, and the fields that must be strings (once per class:
    building a serializer's fields costs more than validating a small body)."""
    fields = serializer_class().fields
    writable = frozenset(name for name, field in fields.items() if not field.read_only)
    # A string field that takes null takes null (DRF has refused anything else already).
    strings = frozenset(
        (name, field.allow_null)
        for name, field in fields.items()
        if isinstance(field, serializers.CharField)
    )
    return writable, strings


def _strict_problems(rules, item: dict) -> dict:
    writable, strings = rules
    problems = {name: ["Unknown field."] for name in item if name not in writable}
    for name, nullable in strings:
        value = item.get(name, "")
        if not isinstance(value, str) and not (value is None and nullable):
            problems[name] = ["Not a valid string."]
    return problems


class OptionalSlashRouter(SimpleRouter):
    """The seed's paths (`/tasks/queue`) and Django's (`/tasks/queue/`) both work."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"

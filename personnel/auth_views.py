"""`POST /auth/token` and `POST /auth/logout`: API tokens for a username and password, and
their end. Sign-in failures are counted per username and address by django-axes (through
`authenticate`); the token endpoint is also throttled per client address."""

import logging
import math

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from qcproject.api import validated_body
from qcproject.network import client_address
from qcproject.schema import BAD_REQUEST

from . import services
from .authentication import TokenAuthentication
from .lockout import lockout_message, lockout_remaining
from .serializers import AuthTokenSerializer

logger = logging.getLogger(__name__)

# A username and a password fit many times over; anything larger is not a sign-in.
MAX_BODY = 16 * 1024


class AuthTokenThrottle(SimpleRateThrottle):
    """QC_TOKEN_THROTTLE_RATE requests per client address (`qcproject.network`), counted in
    the default cache, which every web process shares."""

    scope = "auth_token"

    def get_rate(self):
        return settings.QC_TOKEN_THROTTLE_RATE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class LockedOut(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self, detail, wait: int):
        super().__init__(detail)
        self.wait = wait  # the API's error handling sends it as Retry-After


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


_ERRORS = {
    400: OpenApiResponse(
        BAD_REQUEST,
        description="Missing fields, or a wrong username or password",
        examples=[
            OpenApiExample(
                "Wrong credentials",
                value={"non_field_errors": ["Unable to log in with provided credentials."]},
            ),
            OpenApiExample("A field missing", value={"password": ["This field is required."]}),
        ],
    ),
    413: OpenApiResponse(description="The body is too large to be a sign-in"),
    429: OpenApiResponse(
        description=(
            "Too many failed sign-ins for this username from this address (`locked_out`), "
            "or too many requests from this address (`throttled`); see Retry-After"
        )
    ),
}


class ObtainTokenView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthTokenThrottle]

    @extend_schema(
        operation_id="auth_token",
        summary="Get an API token",
        tags=["auth"],
        request=AuthTokenSerializer,
        responses={200: AuthTokenSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "Credentials",
                value={"username": "alice", "password": "inspect-demo-2025"},
                request_only=True,
            ),
            OpenApiExample(
                "Token",
                value={
                    "token": "Xq3bW9yS1hZf8mC2nRt5vK7pL0aE4dGuJ6iO9sYwBcM",
                    "expiry": "2026-12-02T17:00:00Z",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        """A new API token for a username and password (anyone). The token ends after
        QC_TOKEN_TTL without use, when the password changes, when the login is
        deactivated, at `POST /auth/logout`, or when a supervisor revokes it."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            raise BodyTooLarge(f"A sign-in is at most {MAX_BODY} bytes.")
        data = validated_body(AuthTokenSerializer, request.data)
        # Django's request: django-axes marks it when the sign-in is refused for failures.
        django_request = request._request
        user = authenticate(
            request=django_request, username=data["username"], password=data["password"]
        )
        if user is None:
            if getattr(django_request, "axes_locked_out", False):
                remaining = lockout_remaining(django_request, data["username"])
                raise LockedOut(lockout_message(remaining), math.ceil(remaining.total_seconds()))
            raise exceptions.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]},
                code="authorization",
            )
        # What a sign-in through Django's login() does for the forms: the failures counted
        # for this username from this address are forgotten.
        axes_reset(ip=django_request.axes_ip_address, username=user.get_username())
        issued = services.token_issue(user=user)
        logger.info(
            "API token %s… issued to %s from %s",
            issued.api_token.prefix,
            user.get_username(),
            django_request.axes_ip_address,
        )
        return Response(
            AuthTokenSerializer({"token": issued.token, "expiry": issued.expires_at}).data
        )


class LogoutView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_logout",
        summary="End the presented token",
        tags=["auth"],
        request=None,
        responses={204: None, 401: OpenApiResponse(description="No working token presented")},
    )
    def post(self, request):
        """End the token this request presents (its holder signs out); other tokens of the
        same person go on."""
        services.token_revoke(api_token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)

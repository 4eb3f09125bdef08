from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.authtoken import views as authtoken_views
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.parsers import JSONParser

from .schema import BAD_REQUEST


@never_cache
@require_safe
def healthz(request):
    """200 when the database answers a query, 503 otherwise (for load balancers)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return JsonResponse({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok"})


class ObtainAuthToken(authtoken_views.ObtainAuthToken):
    """`POST /auth/token`: DRF's, public and JSON only like the rest of the API.

    It reads no credentials: a client that still sends an old or placeholder token gets a
    new one instead of 401, and no session means no CSRF check (a JSON body cannot come
    from another site's form).
    """

    authentication_classes = ()
    parser_classes = (JSONParser,)

    @extend_schema(
        operation_id="auth_token",
        summary="Get an API token",
        description="The user's API token (the same one each time), for the header "
        "`Authorization: Token <token>`. Public.",
        tags=["auth"],
        examples=[
            OpenApiExample(
                "Credentials",
                value={"username": "alice", "password": "inspect-demo-2025"},
                request_only=True,
            ),
            OpenApiExample(
                "Token",
                value={"token": "1c35b126ac33e129e4b56d6077c441d865484b75"},
                response_only=True,
            ),
        ],
        responses={
            200: AuthTokenSerializer,
            400: OpenApiResponse(
                BAD_REQUEST,
                description="Wrong credentials, or a field missing",
                examples=[
                    OpenApiExample(
                        "Wrong credentials",
                        value={"non_field_errors": ["Unable to log in with provided credentials."]},
                    ),
                    OpenApiExample(
                        "A field missing", value={"password": ["This field is required."]}
                    ),
                ],
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


obtain_auth_token = ObtainAuthToken.as_view()

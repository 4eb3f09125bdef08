"""The lean path of the two requests QC clients make most: the heartbeat and the sign-in.

Every client sends a heartbeat every few seconds, and a shift starts with hundreds of
sign-ins at once. Through DRF a request pays for content negotiation, a Request object, the
parsers, a serializer's validation and the renderers before and after the one or two
statements it exists for; on the 2-core machine that is most of a heartbeat's cost (see
docs/benchmarks.md). So the common case is answered here:

- an API token (`Authorization: Token <key>`) of an active user who is the QC person in
  the URL or body, asking for JSON (or anything);
- a heartbeat on a live session (one statement checks the token and refreshes the
  session together), or a sign-in with an empty body or `{"person_id": <own id>}` (the
  statement that locks the person checks the token).

Everything else goes to the DRF view untouched, and gets its answer there: browser
sessions (the portal) and their CSRF check, supervisors acting for someone, bad or missing
tokens (401), someone else's id (403), unknown ids (404), expired sessions (409), malformed
bodies (400), other methods (405), other media types. The services are the same on both
paths; tests send the same requests both ways and compare the answers.
"""

import json

from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.renderers import JSONRenderer

from . import services
from .serializers import MAX_ID, person_representation

# What DRF adds to these views' answers (APIView.default_response_headers).
_HEADERS = {"Allow": "POST, OPTIONS", "Vary": "Accept"}
_JSON = JSONRenderer.media_type
_ANY_JSON = frozenset({"", "*/*", _JSON})
_render = JSONRenderer().render


def _token_key(request) -> str | None:
    """The key of a well-formed `Authorization: Token <key>` header, or None."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) == 2 and parts[0].lower() == "token" and parts[1].isascii():
        return parts[1]
    return None


def _plain_json_post(request) -> bool:
    """A POST that content negotiation would answer with JSON, without parsing anything."""
    return (
        request.method == "POST"
        and request.META.get("HTTP_ACCEPT", "") in _ANY_JSON
        and not request.META.get("QUERY_STRING")
    )


def _answer(person) -> HttpResponse:
    """The person as the DRF view would render it: PersonSerializer's representation, by
    DRF's JSON renderer."""
    response = HttpResponse(_render(person_representation(person)), content_type=_JSON)
    for name, value in _HEADERS.items():
        response[name] = value
    return response


def _lean(work):
    """Run the lean path's work, or return None when it fails on the database: the general
    view then tries again and answers the error (503 while the database is away).

    The work's first statement stands in for Django's health check (CONN_HEALTH_CHECKS
    pings before a request's first query, a round trip that costs a heartbeat a tenth of
    its throughput): a dead connection fails that statement at once, and is closed here, so
    the general view starts on a new one. Every lean request is safe to run again: a
    heartbeat refreshes, a sign-in while signed in keeps the session and the task.
    """
    connection.health_check_done = True
    try:
        return work()
    except DatabaseError:
        if not connection.in_atomic_block:  # never inside a caller's transaction (tests)
            connection.close()
        return None


def heartbeat(general_view):
    """`POST /personnel/{id}/heartbeat`: lean for a live session's own token, else
    `general_view` (the DRF action)."""

    @csrf_exempt  # token requests only; the general view checks CSRF for sessions
    def view(request, pk):
        key = _token_key(request) if _plain_json_post(request) else None
        if key is not None:
            person = _lean(
                lambda: services.person_heartbeat_with_token(person_id=int(pk), token_key=key)
            )
            if person is not None:
                return _answer(person)
        return view.general_view(request, pk=pk)

    view.general_view = general_view
    return view


def login(general_view):
    """`POST /personnel/login`: lean for a QC person's own token signing themselves in,
    else `general_view` (the DRF action)."""

    @csrf_exempt  # token requests only; the general view checks CSRF for sessions
    def view(request):
        key = _token_key(request) if _plain_json_post(request) else None
        if key is not None:
            person = _lean(lambda: _sign_in_self(request, key))
            if person is not None:
                return _answer(person)
        return view.general_view(request)

    view.general_view = general_view
    return view


def _sign_in_self(request, key: str):
    """The token's own QC person, signed in; None unless the request is exactly that."""
    body = request.body
    if not body:
        return services.person_login_with_token(token_key=key)
    if request.META.get("CONTENT_TYPE", "").split(";")[0].strip() != _JSON:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) - {"person_id"}:
        return None
    person_id = data.get("person_id")
    if person_id is not None and not (type(person_id) is int and 0 < person_id <= MAX_ID):
        return None  # a string, a boolean, out of range: DRF's validation decides
    return services.person_login_with_token(token_key=key, person_id=person_id)

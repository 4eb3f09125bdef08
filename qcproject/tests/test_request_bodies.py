"""Request bodies an anonymous attacker can send: each is answered at once with a 4xx and
a JSON error, whatever media type it claims (issue 12, "anonymous denial of service").

The API parses JSON for `application/json` and for every wildcard that matches it
(`application/*`, `*/*`, `*/json`); the guard must hold for all of them.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.exceptions import ParseError

from tasks.tests.invariants import count_rows

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DEEP = b"[" * 5000 + b"]" * 5000
# The regular expression that stripped strings before counting brackets backtracked from
# every escaped quote to the end of an unclosed string: quadratic time.
ESCAPED_QUOTES = b'"' + b'\\"' * 100_000  # 200 kB

JSON_MEDIA_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/*",
    "*/*",
    "*/json",
]

# Runs the request through the project's body guard middleware and a DRF view that parses
# with the configured parsers, in a process of its own that the test can kill: on the old
# guard this body kept a worker busy for hours, and a hung test must fail, not hang.
_GUARDED_PARSE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qcproject.settings")
import django
django.setup()
from django.test import RequestFactory
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from qcproject.middleware import RequestBodyGuardMiddleware

class Parse(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request):
        return Response({"parsed": type(request.data).__name__})

body = sys.stdin.buffer.read()
request = RequestFactory().post("/", body, content_type=sys.argv[1])
response = RequestBodyGuardMiddleware(Parse.as_view())(request)
response.render() if hasattr(response, "render") else None
print(response.status_code)
"""


def _guarded_parse(body: bytes, content_type: str, *, deadline: float) -> int:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _GUARDED_PARSE, content_type],
            input=body,
            capture_output=True,
            cwd=ROOT,
            timeout=deadline,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"a {len(body)}-byte body was not answered within {deadline} s")
    return int(done.stdout.split()[-1])


def test_an_unclosed_string_of_escaped_quotes_is_answered_at_once():
    """REGRESSION: `"` then `\\"` repeated (80 kB) kept a gunicorn worker busy until it was
    killed (30 s, then 500): the string-stripping regular expression was quadratic. At
    200 kB the old guard needs hours; a linear one answers 400 in milliseconds (the
    deadline is only there so that a regression fails instead of hanging)."""
    assert _guarded_parse(ESCAPED_QUOTES, "application/json", deadline=60) == 400


@pytest.mark.parametrize("content_type", JSON_MEDIA_TYPES)
def test_deep_nesting_is_a_400_for_every_media_type_parsed_as_json(api, supervisor, content_type):
    """REGRESSION: the guard looked only at `application/json`, so `*/*` and
    `application/*` (which DRF's JSON parser also takes) reached the decoder: 500 with
    RecursionError."""
    api.force_authenticate(supervisor)
    before = count_rows()
    response = api.generic("POST", "/tasks", DEEP, content_type=content_type)
    assert response.status_code == 400, response.content[:200]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "parse_error"
    assert count_rows() == before


@pytest.mark.parametrize("content_type", ["*/*", "application/*"])
def test_deep_nesting_to_the_anonymous_token_endpoint_is_a_400(client, content_type):
    response = client.generic("POST", "/auth/token", DEEP, content_type=content_type)
    assert response.status_code == 400, response.content[:200]
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize("content_type", ["*/*", "application/*"])
def test_oversized_bodies_are_a_413_for_wildcard_media_types(
    api, supervisor, settings, content_type
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    api.force_authenticate(supervisor)
    raw = json.dumps([{"description": "y" * 1000}] * 30).encode()
    response = api.generic("POST", "/tasks", raw, content_type=content_type)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


# --- the parser on its own -------------------------------------------------------------------


def _parse(raw: bytes):
    from io import BytesIO

    from django.conf import settings
    from django.utils.module_loading import import_string

    (json_parser,) = [
        import_string(path)
        for path in settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]
        if import_string(path).media_type == "application/json"
    ]
    return json_parser().parse(BytesIO(raw), "application/json", {})


@pytest.mark.parametrize(
    "raw",
    [b"1e999", b"-1e999", b'{"person_id": 1e400}', b"[1.5e309]"],
    ids=["inf", "-inf", "in-object", "in-list"],
)
def test_numbers_beyond_a_float_are_a_parse_error(raw):
    """Python reads them as infinity, which JSON has no way to write: a body would be
    accepted that the API could never answer with."""
    with pytest.raises(ParseError):
        _parse(raw)


def test_integers_of_thousands_of_digits_are_a_parse_error():
    with pytest.raises(ParseError):
        _parse(b'{"person_id": ' + b"9" * 5000 + b"}")


def test_nesting_past_the_limit_is_a_parse_error_before_decoding(settings):
    settings.QC_MAX_JSON_DEPTH = 3
    assert _parse(b'[[["fine"]]]') == [[["fine"]]]
    with pytest.raises(ParseError, match="nested deeper than 3"):
        _parse(b"[[[[1]]]]")


def test_the_decoders_own_recursion_limit_is_a_parse_error(settings):
    settings.QC_MAX_JSON_DEPTH = 10**9  # only the decoder's recursion limit is left
    with pytest.raises(ParseError):
        _parse(DEEP * 4)


def test_ordinary_bodies_parse_as_before():
    assert _parse(b'{"description": "quote \\" then [[[[", "n": 1.5}') == {
        "description": 'quote " then [[[[',
        "n": 1.5,
    }

"""The project's middleware: guards that refuse JSON bodies the API could not handle
sanely, before any view runs; and Django's message middleware, made lazy.

- A JSON body larger than `DATA_UPLOAD_MAX_MEMORY_SIZE` gets 413. Django refuses it anyway
  once something reads it, but with an HTML 400 from deep inside request parsing; here it
  is refused up front, by its Content-Length where it has one, with the API's JSON error.
- A JSON body nested deeper than `QC_MAX_JSON_DEPTH` (default 64) gets 400. Python's JSON
  decoder recurses once per level, so a few thousand `[` (a 10 kB body) raise
  RecursionError inside DRF's parser: a 500, even for an anonymous `POST /auth/token`.

Only JSON bodies are looked at: form posts are limited by Django itself, and multipart
uploads (the admin's task import) are streamed to disk and may be larger.

- `MessageMiddleware` makes the message storage only for a request that uses it.
- `LocaleMiddleware` picks the language for people (pages, and the portal's own API
  calls), not for programs that send a token.
"""

import re

from django.conf import settings
from django.contrib.messages import middleware as messages_middleware
from django.contrib.messages.storage import default_storage
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.middleware import locale
from django.utils import translation
from django.utils.functional import SimpleLazyObject, empty

DEFAULT_MAX_JSON_DEPTH = 64

# A JSON string, escapes included: brackets inside strings do not nest anything.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (malformed text allowed)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class RequestBodyGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _is_json(request.META.get("CONTENT_TYPE", "")):
            refusal = self.refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def refusal(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return _too_large(limit)
        try:
            body = request.body  # kept by Django for the view to parse
        except RequestDataTooBig:
            return _too_large(limit)
        max_depth = getattr(settings, "QC_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
        if body and json_depth(body) > max_depth:
            return JsonResponse(
                {
                    "detail": f"JSON parse error - nested deeper than {max_depth} levels.",
                    "code": "parse_error",
                },
                status=400,
            )
        return None


def _too_large(limit: int) -> JsonResponse:
    return JsonResponse(
        {"detail": f"The request body is larger than {limit} bytes.", "code": "too_large"},
        status=413,
    )


class MessageMiddleware(messages_middleware.MessageMiddleware):
    """Django's message middleware, with the message storage made when first used.

    Django's makes a cookie-and-session storage for every request, a few percent of a
    heartbeat's CPU, and API requests never use it. Here `request._messages` (what
    django.contrib.messages reads and writes) is made on first use; a request that never
    used it has nothing to store.
    """

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        stored = request.__dict__.get("_messages")
        if isinstance(stored, SimpleLazyObject) and stored._wrapped is empty:
            return response
        return super().process_response(request, response)


class LocaleMiddleware(locale.LocaleMiddleware):
    """Django's language middleware (the language cookie, else the browser's
    Accept-Language), for requests from people.

    A request with an `Authorization` header comes from a program (an API token, a metrics
    scrape): it is answered in the default language (LANGUAGE_CODE), without
    `Vary: Accept-Language` or `Content-Language`, as before the pages were translated, and
    without parsing a language header on every heartbeat. The language is set for every
    request all the same: a worker's thread keeps the last one activated.
    """

    def process_request(self, request):
        if "HTTP_AUTHORIZATION" in request.META:
            translation.deactivate()
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return
        super().process_request(request)

    def process_response(self, request, response):
        if "HTTP_AUTHORIZATION" in request.META:
            return response
        return super().process_response(request, response)

"""The project's middleware: a guard that refuses request bodies too large to read before
any view runs; and Django's message middleware, made lazy.

- A body larger than `DATA_UPLOAD_MAX_MEMORY_SIZE` gets 413, by its Content-Length, with the
  API's JSON error. Django refuses it anyway once something reads it, but with an HTML 400
  from deep inside request parsing. Multipart uploads (the admin's task import) are
  streamed to disk and have limits of their own, so they are left alone.
- What a body may contain is the parser's business: `qcproject.parsers.JSONParser` refuses
  deep nesting and numbers JSON cannot hold, for every media type DRF parses as JSON.

- `ContentSecurityPolicyMiddleware`: django-csp's, with a fixed policy for responses that are
  not pages.
- `SessionIdleTimeoutMiddleware`: browser sessions end after SESSION_COOKIE_AGE idle.
- `MessageMiddleware` makes the message storage only for a request that uses it.
- `LocaleMiddleware` picks the language for people (pages, and the portal's own API
  calls), not for programs that send a token.
"""

import time

from csp.constants import HEADER as CSP_HEADER
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import middleware as messages_middleware
from django.contrib.messages.storage import default_storage
from django.http import JsonResponse
from django.middleware import locale
from django.utils import translation
from django.utils.functional import SimpleLazyObject, empty

from qcproject.parsers import DEFAULT_MAX_JSON_DEPTH, json_depth

__all__ = [
    "DEFAULT_MAX_JSON_DEPTH",
    "MessageMiddleware",
    "RequestBodyGuardMiddleware",
    "json_depth",
]


class RequestBodyGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _content_length(request) > limit and not _is_multipart(request):
            return JsonResponse(
                {"detail": f"The request body is larger than {limit} bytes.", "code": "too_large"},
                status=413,
            )
        return self.get_response(request)


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _is_multipart(request) -> bool:
    content_type = request.META.get("CONTENT_TYPE", "")
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy (CONTENT_SECURITY_POLICY, with the response's nonce) on pages;
    on every other response (the API's JSON, /metrics, files) a fixed policy that lets
    nothing load or frame it. Nothing in those runs in a browser, and a fixed header costs
    the API's hot path no policy building."""

    NOT_A_PAGE = "default-src 'none'; frame-ancestors 'none'"

    def process_response(self, request, response):
        if not response.get("Content-Type", "").startswith("text/html"):
            if CSP_HEADER not in response:
                response[CSP_HEADER] = self.NOT_A_PAGE
            return response
        return super().process_response(request, response)


class SessionIdleTimeoutMiddleware:
    """A signed-in browser session ends after SESSION_COOKIE_AGE seconds without a request.

    Django pushes a session's expiry out (in the database and the cookie) only when it
    saves the session, and saving it on every request (SESSION_SAVE_EVERY_REQUEST) would
    add a write to each of the portal's heartbeats. Here a session in use is marked for
    saving when its last save is older than QC_IDLE_REFRESH_INTERVAL: the timeout is then
    exact to within that interval, for one write per interval. Must come after Django's
    SessionMiddleware, which does the saving on the way out.
    """

    KEY = "_qc_refreshed_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        # Only a session this request read (a signed-in user's): never load one for this.
        if session is None or not session.accessed or SESSION_KEY not in session:
            return response
        now = int(time.time())
        if session.modified or now - session.get(self.KEY, 0) >= settings.QC_IDLE_REFRESH_INTERVAL:
            session[self.KEY] = now
        return response


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

"""API content negotiation. Kept apart from `qcproject.api`, like the authentication: DRF
imports the class named in its settings while `rest_framework.views` itself loads."""

from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, with a shortcut for what API clients send, and a 415 that
    says what to send.

    Parsing the Accept header is a measurable share of a heartbeat's CPU
    (docs/benchmarks.md), and nearly every API client asks for JSON or for anything
    (or sends no Accept at all): the first renderer, JSON, is the answer without parsing.
    Anything else (a browser's Accept, `?format=`) goes the general way.
    """

    ANY = frozenset({"", "*/*"})

    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "")
        first = renderers[0] if renderers else None
        if (
            first is not None
            and format_suffix is None
            and (accept in self.ANY or accept == first.media_type)
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)

    def select_parser(self, request, parsers):
        parser = super().select_parser(request, parsers)
        if parser is None:
            # DRF's message names only the media type sent; this one says what to send.
            sent = request.content_type.split(";", 1)[0].strip()
            accepted = " or ".join(p.media_type for p in parsers)
            detail = f'Unsupported media type "{sent}"' if sent else "No Content-Type"
            raise UnsupportedMediaType(sent, detail=f"{detail}: send {accepted} bodies.")
        return parser

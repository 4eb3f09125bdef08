"""The API's JSON parser: DRF's, made safe for any body an anonymous client can send.

DRF hands every media type that matches `application/json` to its JSON parser, wildcards
included (`*/*`, `application/*`, `*/json`), so the checks live in the parser itself rather
than in a middleware that would have to guess which bodies end up here:

- Nesting deeper than `QC_MAX_JSON_DEPTH` (default 64) is refused before decoding. Python's
  decoder recurses once per level, and a few thousand `[` (a 10 kB body) raise
  RecursionError; the scan that counts the depth runs in linear time on any input.
- RecursionError from the decoder itself (a limit set above the interpreter's) and
  numbers Python cannot hold in JSON's terms (integers of thousands of digits, floats that
  overflow to infinity, which JSON cannot write back) are parse errors too.

Every refusal is DRF's `ParseError`: 400 with the API's JSON error.
"""

import json
import math

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

DEFAULT_MAX_JSON_DEPTH = 64

_QUOTE = ord('"')
_OPENING = frozenset(b"[{")
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))


def json_depth(body: bytes, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in a JSON text, malformed text allowed.
    With `stop_above`, the count stops at the first level deeper than that (returned).

    Linear in the length of the body, and mostly in C: escapes go first, left to right as
    a decoder reads them (an escaped backslash, then an escaped quote), so every quote left
    opens or closes a string; everything but quotes and brackets goes next; then two
    adjacent quotes, which hold no bracket between them (a pair removed keeps the parity of
    every quote after it). What Python walks is the brackets and a quote between them.

    Outside strings a backslash is invalid JSON: the decoder stops at it, before going any
    deeper, so how the replacements read what follows it does not matter.
    """
    structure = (
        body.replace(b"\\\\", b"")
        .replace(b'\\"', b"")
        .translate(None, _NOT_STRUCTURE)
        .replace(b'""', b"")
    )
    limit = len(structure) if stop_above is None else stop_above
    depth = deepest = 0
    in_string = False
    for byte in structure:
        if byte == _QUOTE:
            in_string = not in_string
        elif in_string:
            continue
        elif byte in _OPENING:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def json_nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether `json_depth(body) > limit`; without a scan when the body has too few
    brackets to nest that deep (a single object, most requests)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    return json_depth(body, stop_above=limit) > limit


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is too large")
    return value


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the checks above; the project's default for JSON bodies."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        body = stream.read() if stream is not None else b""
        max_depth = getattr(settings, "QC_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
        if json_nested_deeper_than(body, max_depth):
            raise ParseError(f"JSON parse error - nested deeper than {max_depth} levels.")
        try:
            return json.loads(
                body.decode(encoding),
                parse_constant=_no_constants,
                parse_float=_finite_float,
            )
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        except ValueError as exc:  # malformed, bad encoding, too many digits, infinity
            raise ParseError(f"JSON parse error - {exc}") from exc

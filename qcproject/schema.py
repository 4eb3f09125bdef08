"""The OpenAPI schema's shared parts (drf-spectacular): the error bodies, the answers every
operation may give, public operations, and `/healthz`.

The schema is a contract for generated clients; `qcproject/tests/test_client.py` generates
one with openapi-python-client and drives the API with it. Hence: every request body is JSON
(the only thing the API parses); every error answer has its body documented, so a client
parses a refused heartbeat instead of getting nothing; an operation that reads no
credentials says so with `security: []`, so a generator offers it without a token.

Kept apart from `qcproject.api` (the API's plumbing): nothing here runs on a request. The
apps' `openapi` modules (their examples and documented errors) import the references below.
"""

import re
from http import HTTPStatus

from drf_spectacular import openapi
from drf_spectacular.utils import PolymorphicProxySerializer

ERROR = {"$ref": "#/components/schemas/Error"}
VALIDATION_ERROR = {"$ref": "#/components/schemas/ValidationError"}
LIST_VALIDATION_ERROR = {"$ref": "#/components/schemas/ListValidationError"}
# What a 400 to a request with an object body is. The alternatives exclude each other (a
# message is a string in one, a list in the other), as `oneOf` requires; a generated client
# tries them in this order.
BAD_REQUEST = {"oneOf": [ERROR, VALIDATION_ERROR]}

ERROR_COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "Every refusal but a validation error: a message for people and a "
        "stable code for programs.",
        "properties": {
            "detail": {"type": "string", "description": "What went wrong, for people."},
            "code": {
                "type": "string",
                "description": "What went wrong, for programs; new codes may appear. Among "
                "them: `not_authenticated`, `authentication_failed`, `permission_denied`, "
                "`not_found`, `parse_error`, `unsupported_media_type`, `too_large`, "
                "`invalid`, `no_session`, `session_expired`, `task_not_in_progress`, "
                "`person_not_signed_in`, `person_busy`, `changed`, `conflict`, `unavailable`.",
            },
        },
        "required": ["detail", "code"],
    },
    "ValidationError": {
        "type": "object",
        "description": "The body's invalid fields, each with its messages; "
        "`non_field_errors` for the body as a whole.",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "minProperties": 1,
        "example": {"description": ["This field may not be blank."]},
    },
    "ListValidationError": {
        "type": "object",
        "description": "For a list body: the index of each invalid item (from 0) with its "
        "field errors; valid items are not named.",
        "additionalProperties": VALIDATION_ERROR,
        "minProperties": 1,
        "example": {"1": {"description": ["This field may not be blank."]}},
    },
}

# Examples of the answers that `schema_common_responses` documents for every operation.
_EXAMPLES = {
    "400": {
        "Invalid fields": {"name": ["This field may not be blank."]},
        "Malformed JSON": {
            "detail": "JSON parse error - Expecting value: line 1 column 1 (char 0)",
            "code": "parse_error",
        },
    },
    "401": {
        "No credentials": {
            "detail": "Authentication credentials were not provided.",
            "code": "not_authenticated",
        },
        "Bad token": {"detail": "Invalid token.", "code": "authentication_failed"},
    },
    "403": {
        "Not allowed": {
            "detail": "You do not have permission to perform this action.",
            "code": "permission_denied",
        }
    },
    "404": {"Not found": {"detail": "Not found.", "code": "not_found"}},
    "409": {
        "Concurrent change": {
            "detail": "A concurrent change conflicted with this request; retry.",
            "code": "conflict",
        }
    },
    "413": {
        "Too large": {
            "detail": "The request body is larger than 10485760 bytes.",
            "code": "too_large",
        }
    },
    "415": {
        "A form": {
            "detail": 'Unsupported media type "application/x-www-form-urlencoded": '
            "send application/json bodies.",
            "code": "unsupported_media_type",
        }
    },
    "503": {
        "Database unavailable": {
            "detail": "The database is unavailable; retry shortly.",
            "code": "unavailable",
        }
    },
}

_STANDARD_ACTIONS = frozenset({"list", "create", "retrieve", "update", "partial_update", "destroy"})


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, with operation ids that make good function names in a generated
    client, and public operations documented as public."""

    def get_operation_id(self) -> str:
        # An action is named by its path: `personnel_heartbeat`, `tasks_complete`, not
        # `personnel_heartbeat_create`, `tasks_complete_create`.
        action = getattr(self.view, "action", None)
        if action and action not in _STANDARD_ACTIONS:
            return "_".join(token.replace("-", "_") for token in self._tokenize_path())
        return super().get_operation_id()

    def get_summary(self) -> str | None:
        # The docstring's opening words, shown beside each path in the docs and as the first
        # line of a generated function's docstring: "Start work", "Keep the session alive".
        summary = super().get_summary()
        if summary is None:
            # The docstring itself, not a `description` given to extend_schema.
            doc = openapi.AutoSchema.get_description(self).strip()
            lead = re.split(r"[.;:]( |$)", doc, maxsplit=1)[0]
            summary = lead.replace("\n", " ") or None
        return summary

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        model = getattr(getattr(self.view, "queryset", None), "model", None)
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"].get("pattern") in (
                r"^\d+$",
                "^[0-9]+$",
            ):
                # The router's ids (`lookup_value_regex`) are numbers, not strings of digits:
                # a generated client then takes an int.
                parameter["schema"] = {"type": "integer", "minimum": 1}
                if model is not None:
                    # The model's name untranslated: the schema's text is English.
                    name = model._meta.verbose_name_raw
                    parameter.setdefault("description", f"The {name}'s id")
        body = operation.get("requestBody")
        if body is not None and isinstance(
            self.get_request_serializer(), PolymorphicProxySerializer
        ):
            # One shape or another, but a body all the same (drf-spectacular cannot tell).
            body["required"] = True
        if not self.view.get_authenticators():
            # A view that reads no credentials is public. `security: []` says so outright
            # (no key would mean "the default"), and generators then call it without a token.
            operation["security"] = []
        return operation


def schema_without_optional_slash(endpoints, **kwargs):
    """drf-spectacular hook: document each path once, in the seed's form (no slash)."""
    cleaned = []
    for path, path_regex, method, callback in endpoints:
        if path_regex.endswith("/?$"):
            path = path.rstrip("/")
        cleaned.append((path, path_regex, method, callback))
    return cleaned


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}


def schema_common_responses(result, generator, request, public):
    """drf-spectacular hook: document the answers any operation may give besides its own,
    and the body of every error answer.

    401 (no or bad credentials) and 403 (not allowed) unless the operation is public; 400
    (malformed or invalid body), 413 (body too large, `RequestBodyGuardMiddleware`) and 415
    (not JSON) where there is a request body; 404 where a path names an object or a page is
    asked for (out of range); 409 on every write (a concurrent change won: the exception
    handler's answer to an integrity error); 503 everywhere while the database is
    unavailable. An operation's own description of a code wins; an error answer it gives
    no body gets the API's: `Error`, or for a 400 `Error` or `ValidationError`.
    """
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_COMPONENTS)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            codes = {}
            if operation.get("security") != []:
                codes["401"] = "Not authenticated, or the token is invalid"
                codes["403"] = "Not allowed for this user"
            if "requestBody" in operation:
                codes["400"] = "Malformed or invalid body"
                codes["413"] = "The body is too large"
                codes["415"] = "The body is not JSON (send `Content-Type: application/json`)"
            parameters = operation.get("parameters", [])
            if any(p.get("in") == "path" or p.get("name") == "page" for p in parameters):
                codes["404"] = "No such object, or no such page"
            if method != "get":
                codes["409"] = "A concurrent change conflicted with this request; retry"
            codes["503"] = "The database is unavailable; retry (see Retry-After)"
            for code, description in codes.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if not response.get("description") and code.isdigit():
                    response["description"] = HTTPStatus(int(code)).phrase
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400 and "content" not in response:
                    content = {"schema": BAD_REQUEST if code == "400" else ERROR}
                    if code in _EXAMPLES:
                        content["examples"] = {
                            name: {"value": value} for name, value in _EXAMPLES[code].items()
                        }
                    response["content"] = {"application/json": content}
            if "503" in responses:
                responses["503"].setdefault("headers", _RETRY_AFTER)
            operation["responses"] = dict(sorted(responses.items()))
    return result


def schema_health_check(result, generator, request, public):
    """drf-spectacular hook: document `GET /healthz`, a plain Django view (it stays one: a
    load balancer's check must not depend on the API's content negotiation)."""
    health = {"$ref": "#/components/schemas/Health"}
    result.setdefault("components", {}).setdefault("schemas", {})["Health"] = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {
                "type": "string",
                "description": "Why the database did not answer (with `unavailable`).",
            },
        },
        "required": ["status"],
    }
    result.setdefault("paths", {})["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Health check",
            "description": "200 when the database answers a query, 503 otherwise; for load "
            "balancers and monitoring. Public.",
            "tags": ["healthz"],
            "security": [],
            "responses": {
                "200": {
                    "description": "The database answers",
                    "content": {
                        "application/json": {"schema": health, "example": {"status": "ok"}}
                    },
                },
                "503": {
                    "description": "The database does not answer",
                    "content": {
                        "application/json": {
                            "schema": health,
                            "example": {
                                "status": "unavailable",
                                "database": "(2002, \"Can't connect to server on '127.0.0.1'\")",
                            },
                        }
                    },
                },
            },
        }
    }
    return result

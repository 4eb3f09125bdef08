"""What the OpenAPI schema says about the personnel endpoints beyond what drf-spectacular
reads from the views (personnel/api.py): the errors each one answers and examples of the
main requests and answers. Documentation only; nothing here runs on a request."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from qcproject.schema import ERROR
from tasks.openapi import EXAMPLE_TASK

EXAMPLE_PERSON = {
    "id": 1,
    "name": "Alice",
    "is_logged_in": True,
    "is_busy": True,
    "last_heartbeat": "2025-06-02T08:00:05.120000Z",
    "current_task": EXAMPLE_TASK,
    "skills": ["welding"],
    "last_release": None,
}

PERSON_WORKING = OpenApiExample(
    "Working on a task", value=EXAMPLE_PERSON, response_only=True, status_codes=[200]
)
PERSON_WAITING = OpenApiExample(
    "Signed in, nothing pending yet",
    value={**EXAMPLE_PERSON, "is_busy": False, "current_task": None},
    response_only=True,
    status_codes=[200],
)

SIGN_IN_EXAMPLES = [
    OpenApiExample(
        "A QC person signs in",
        value={},
        request_only=True,
        description="A QC person may leave out `person_id`: they sign themselves in.",
    ),
    OpenApiExample("A supervisor signs a person in", value={"person_id": 1}, request_only=True),
    PERSON_WORKING,
    PERSON_WAITING,
]

NO_SESSION = OpenApiExample(
    "Not signed in",
    value={
        "detail": "No work session is active. Start work again to get a task.",
        "code": "no_session",
    },
)
SESSION_EXPIRED = OpenApiExample(
    "Session expired",
    value={
        "detail": "The work session expired; its task went back to the queue. Start work again.",
        "code": "session_expired",
    },
)

HEARTBEAT_REFUSED = OpenApiResponse(
    ERROR,
    description="The session expired (`session_expired`: no heartbeat within "
    "QC_HEARTBEAT_TIMEOUT, its task went back to the queue) or is not active (`no_session`: "
    "never started, or signed out). Sign in again.",
    examples=[SESSION_EXPIRED, NO_SESSION],
)

NOT_SIGNED_IN = OpenApiResponse(
    ERROR,
    description="The person is not signed in",
    examples=[
        OpenApiExample(
            "Not signed in",
            value={"detail": "Alice is not signed in.", "code": "person_not_signed_in"},
        )
    ],
)

PERSON_SIGNED_OUT = OpenApiExample(
    "Signed out",
    value={**EXAMPLE_PERSON, "is_logged_in": False, "is_busy": False, "current_task": None},
    response_only=True,
    status_codes=[200],
)

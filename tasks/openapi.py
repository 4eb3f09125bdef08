"""What the OpenAPI schema says about the task endpoints beyond what drf-spectacular reads
from the views (tasks/api.py): `POST /tasks` taking one task or a list, the errors each
endpoint answers, and examples of the main requests and answers. Documentation only;
nothing here runs on a request."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, PolymorphicProxySerializer

from qcproject.schema import ERROR, LIST_VALIDATION_ERROR, VALIDATION_ERROR

from .serializers import TaskCreateSerializer, TaskSerializer

EXAMPLE_TASK = {
    "id": 7,
    "description": "Inspect lot 42",
    "status": "IN_PROGRESS",
    "created_at": "2025-06-02T07:58:12.345000Z",
    "assigned_to_id": 1,
    "priority": 5,
    "skill": "welding",
    "max_handle_seconds": None,
    "expires_at": None,
    "reviews_required": 1,
    "reviews_done": 0,
    "outcome": None,
}

# `oneOf`: one task, or a list of them created all or none (at most QC_MAX_BULK_TASKS).
TASK_CREATE_REQUEST = PolymorphicProxySerializer(
    component_name="TaskCreateOneOrMany",
    serializers=[TaskCreateSerializer(), TaskCreateSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)
TASK_CREATED = OpenApiResponse(
    PolymorphicProxySerializer(
        component_name="TaskCreated",
        serializers=[TaskSerializer(), TaskSerializer(many=True)],
        resource_type_field_name=None,
        many=False,
    ),
    description="The task created, or for a list the tasks created, in the order sent",
)

PENDING_TASK = {**EXAMPLE_TASK, "status": "PENDING", "assigned_to_id": None}

CREATE_EXAMPLES = [
    OpenApiExample("One task", value={"description": "Inspect lot 42"}, request_only=True),
    OpenApiExample(
        "Several tasks, all or none",
        value=[{"description": "Inspect lot 42"}, {"description": "Inspect lot 43"}],
        request_only=True,
    ),
    OpenApiExample("One task created", value=PENDING_TASK, response_only=True, status_codes=[201]),
    OpenApiExample(
        "Several tasks created",
        value=[
            PENDING_TASK,
            {**PENDING_TASK, "id": 8, "description": "Inspect lot 43"},
        ],
        response_only=True,
        status_codes=[201],
    ),
]

CREATE_REFUSED = OpenApiResponse(
    {"oneOf": [ERROR, LIST_VALIDATION_ERROR, VALIDATION_ERROR]},
    description="Malformed or invalid body; nothing was created. An object's invalid fields "
    "(`ValidationError`), a list's invalid items by index (`ListValidationError`), or an "
    "`Error` (unparsable JSON, an empty or too long list).",
    examples=[
        OpenApiExample(
            "A blank description",
            value={"description": ["This field may not be blank."]},
        ),
        OpenApiExample(
            "The second item of a list is invalid",
            value={"1": {"description": ["This field may not be blank."]}},
        ),
        OpenApiExample(
            "Too many at once",
            value={"detail": "At most 10000 tasks at once.", "code": "invalid"},
        ),
    ],
)

COMPLETE_EXAMPLES = [
    OpenApiExample(
        "A verdict",
        value={"outcome": "fail", "notes": "Two scratches on the lid", "defects": ["SCRATCH"]},
        request_only=True,
    ),
    OpenApiExample("No verdict (where the site does not require one)", value={}, request_only=True),
    OpenApiExample(
        "Completed, with the next task",
        value={
            **EXAMPLE_TASK,
            "status": "COMPLETED",
            "next_task": {**EXAMPLE_TASK, "id": 8, "description": "Inspect lot 43"},
        },
        response_only=True,
        status_codes=[200],
    ),
    OpenApiExample(
        "Completed, nothing pending",
        value={**EXAMPLE_TASK, "status": "COMPLETED", "next_task": None},
        response_only=True,
        status_codes=[200],
    ),
]

COMPLETE_REFUSED = OpenApiResponse(
    ERROR,
    description="The task is not in progress for that person: released, reassigned to "
    "someone else, pending, or never started. Their current task, if any, is in "
    "`GET /personnel/{id}`.",
    examples=[
        OpenApiExample(
            "No longer yours",
            value={
                "detail": "Task 7 is no longer in progress for Alice; it was released or has "
                "been given to someone else.",
                "code": "task_not_in_progress",
            },
        )
    ],
)

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from qcproject.db import db_now

from . import routing
from .models import DECLINE_REASON_MAX_LENGTH, MAX_PRIORITY, SKILL_MAX_LENGTH, Task
from .services import MAX_DESCRIPTION_LENGTH

# DRF's own formatting of a datetime (ISO 8601, "Z" for UTC), for the representations built
# by hand. In the default time zone (TIME_ZONE, UTC) rather than DRF's "current" one, which
# is the same here (nothing activates another) and costs a context-local lookup per value.
datetime_representation = serializers.DateTimeField(
    default_timezone=timezone.get_default_timezone()
).to_representation


def task_representation(task: Task) -> dict:
    """What TaskSerializer gives for a task, built by hand (see its to_representation)."""
    return {
        "id": task.pk,
        "description": task.description,
        "status": task.status,
        "created_at": datetime_representation(task.created_at),
        "assigned_to_id": task.assigned_to_id,
        "priority": task.priority,
        "skill": task.skill,
        "max_handle_seconds": task.max_handle_seconds,
        "expires_at": None if task.expires_at is None else datetime_representation(task.expires_at),
    }


class TaskSerializer(serializers.ModelSerializer):
    assigned_to_id = serializers.IntegerField(read_only=True, allow_null=True)
    priority = serializers.IntegerField(
        read_only=True,
        help_text=f"0 to {MAX_PRIORITY}, higher first; a waiting task rises one level for "
        "every QC_PRIORITY_AGING seconds it waits.",
    )
    skill = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Only people with this skill get it; null: anyone.",
    )
    max_handle_seconds = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Time limit once in progress, in seconds (null: QC_MAX_HANDLE_TIME; 0: none).",
    )
    expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Never assigned after this; then EXPIRED."
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "description",
            "status",
            "created_at",
            "assigned_to_id",
            "priority",
            "skill",
            "max_handle_seconds",
            "expires_at",
        ]
        read_only_fields = fields

    def to_representation(self, task):
        # Built by hand: a task is in the answer to nearly every heartbeat, sign-in and
        # complete, and a ModelSerializer builds its fields anew for every instance, a
        # noticeable share of a heartbeat's CPU (docs/benchmarks.md). The declared fields
        # still describe it (OpenAPI); tests check both give the same representation.
        return task_representation(task)


class StrictIntegerField(serializers.IntegerField):
    """A whole number as a JSON number: not a string of digits, not true/false, not 2.0."""

    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class RoutingFieldsMixin(serializers.Serializer):
    """The routing fields of a task as a request gives them (docs/engine.md, "Routing");
    `tasks.routing.routing_problems` is the rule."""

    priority = StrictIntegerField(
        min_value=0,
        max_value=MAX_PRIORITY,
        help_text=f"0 (the default) to {MAX_PRIORITY}, higher first.",
    )
    skill = serializers.CharField(
        max_length=SKILL_MAX_LENGTH,
        allow_null=True,
        allow_blank=True,
        help_text="Only people with this skill get the task (a short name such as "
        "'welding'); null: anyone.",
    )
    max_handle_seconds = StrictIntegerField(
        min_value=0,
        max_value=routing.MAX_HANDLE_SECONDS,
        allow_null=True,
        help_text="Time limit once in progress, in seconds; null: QC_MAX_HANDLE_TIME; 0: none.",
    )
    expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="A pending task is never assigned after this (must be in the future); it "
        "becomes EXPIRED.",
    )

    def validate_skill(self, value):
        try:
            return routing.skill_clean(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def validate_expires_at(self, value):
        if value is not None:
            now = self.context.get("now")
            if now is None:  # once per request, also for a list of tasks
                now = self.context["now"] = db_now()
            if value <= now:
                raise serializers.ValidationError("The expiry must be in the future.")
        return value


class TaskCreateSerializer(RoutingFieldsMixin):
    description = serializers.CharField(max_length=MAX_DESCRIPTION_LENGTH, trim_whitespace=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("priority", "skill", "max_handle_seconds", "expires_at"):
            self.fields[name].required = False


class TaskUpdateSerializer(RoutingFieldsMixin):
    """`PATCH /tasks/{id}`: any of the routing fields of a pending task."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("priority", "skill", "max_handle_seconds", "expires_at"):
            self.fields[name].required = False

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one of priority, skill, max_handle_seconds, expires_at."
            )
        return attrs


class TaskDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=DECLINE_REASON_MAX_LENGTH,
        trim_whitespace=True,
        help_text="Why the task is handed back (shown to supervisors).",
    )


class TaskCompleteSerializer(TaskSerializer):
    """The answer to complete and decline: the task, and the next one, already assigned."""

    next_task = TaskSerializer(allow_null=True, read_only=True)

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "next_task"]
        read_only_fields = fields

    def to_representation(self, task):
        following = task.next_task
        return {
            **task_representation(task),
            "next_task": None if following is None else task_representation(following),
        }


class TaskReassignSerializer(serializers.Serializer):
    person_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)

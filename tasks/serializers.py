from django.utils import timezone
from rest_framework import serializers

from .models import Task
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
    }


class TaskSerializer(serializers.ModelSerializer):
    assigned_to_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Task
        fields = ["id", "description", "status", "created_at", "assigned_to_id"]
        read_only_fields = fields

    def to_representation(self, task):
        # Built by hand: a task is in the answer to nearly every heartbeat, sign-in and
        # complete, and a ModelSerializer builds its fields anew for every instance, a
        # noticeable share of a heartbeat's CPU (docs/benchmarks.md). The declared fields
        # still describe it (OpenAPI); tests check both give the same representation.
        return task_representation(task)


class TaskCreateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=MAX_DESCRIPTION_LENGTH, trim_whitespace=True)


class TaskCompleteSerializer(TaskSerializer):
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

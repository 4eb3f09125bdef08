from rest_framework import serializers

from .models import Task
from .services import MAX_DESCRIPTION_LENGTH


class TaskSerializer(serializers.ModelSerializer):
    assigned_to_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Task
        fields = ["id", "description", "status", "created_at", "assigned_to_id"]
        read_only_fields = fields


class TaskCreateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=MAX_DESCRIPTION_LENGTH, trim_whitespace=True)


class TaskCompleteSerializer(TaskSerializer):
    next_task = TaskSerializer(allow_null=True, read_only=True)

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "next_task"]
        read_only_fields = fields


class TaskReassignSerializer(serializers.Serializer):
    person_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)

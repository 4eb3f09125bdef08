from rest_framework import serializers

from tasks.serializers import TaskSerializer

from .models import Person

MAX_ID = 2**63 - 1


class PersonSerializer(serializers.ModelSerializer):
    current_task = TaskSerializer(allow_null=True, read_only=True)

    class Meta:
        model = Person
        fields = ["id", "name", "is_logged_in", "is_busy", "last_heartbeat", "current_task"]
        read_only_fields = fields


class PersonCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class PersonLoginSerializer(serializers.Serializer):
    person_id = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        help_text="The person to sign in; a QC person may leave it out to sign themselves in.",
    )

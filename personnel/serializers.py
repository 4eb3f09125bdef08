from rest_framework import serializers

from tasks.serializers import TaskSerializer, datetime_representation, task_representation

from .models import Person

MAX_ID = 2**63 - 1


class PersonSerializer(serializers.ModelSerializer):
    current_task = TaskSerializer(allow_null=True, read_only=True)

    class Meta:
        model = Person
        fields = ["id", "name", "is_logged_in", "is_busy", "last_heartbeat", "current_task"]
        read_only_fields = fields

    def to_representation(self, person):
        # Built by hand, as TaskSerializer's: this is the answer to every heartbeat and
        # sign-in. Tests check it equals what the declared fields give.
        return person_representation(person)


def person_representation(person: Person) -> dict:
    """What PersonSerializer gives for a person with `current_task`, built by hand (and
    without a serializer to make, for the lean paths: personnel/fastpath.py)."""
    task = person.current_task
    return {
        "id": person.pk,
        "name": person.name,
        "is_logged_in": person.is_logged_in,
        "is_busy": person.is_busy,
        "last_heartbeat": datetime_representation(person.last_heartbeat),
        "current_task": None if task is None else task_representation(task),
    }


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

from rest_framework import serializers

from tasks.models import SKILL_MAX_LENGTH
from tasks.serializers import TaskSerializer, datetime_representation, task_representation

from .models import Person

MAX_ID = 2**63 - 1


class LastReleaseSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    reason = serializers.CharField(
        help_text="How it was taken back: STALE, TIMED_OUT, SIGNED_OUT, RELEASED, "
        "REASSIGNED or CANCELLED."
    )
    at = serializers.DateTimeField()


class PersonSerializer(serializers.ModelSerializer):
    current_task = TaskSerializer(allow_null=True, read_only=True)
    skills = serializers.ListField(child=serializers.CharField(), read_only=True)
    last_release = LastReleaseSerializer(
        allow_null=True,
        read_only=True,
        help_text="The latest task the engine or a supervisor took from this person, and "
        "why (so that a client can say why the current task changed); null if none.",
    )

    class Meta:
        model = Person
        fields = [
            "id",
            "name",
            "is_logged_in",
            "is_busy",
            "last_heartbeat",
            "current_task",
            "skills",
            "last_release",
        ]
        read_only_fields = fields

    def to_representation(self, person):
        # Built by hand, as TaskSerializer's: this is the answer to every heartbeat and
        # sign-in. Tests check it equals what the declared fields give.
        return person_representation(person)


def person_representation(person: Person) -> dict:
    """What PersonSerializer gives for a person with `current_task`, built by hand."""
    task = person.current_task
    return {
        "id": person.pk,
        "name": person.name,
        "is_logged_in": person.is_logged_in,
        "is_busy": person.is_busy,
        "last_heartbeat": datetime_representation(person.last_heartbeat),
        "current_task": None if task is None else task_representation(task),
        "skills": list(person.skills or ()),
        "last_release": None
        if person.last_release_task_id is None
        else {
            "task_id": person.last_release_task_id,
            "reason": person.last_release_reason,
            "at": datetime_representation(person.last_release_at),
        },
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


class PersonUpdateSerializer(serializers.Serializer):
    skills = serializers.ListField(
        child=serializers.CharField(max_length=SKILL_MAX_LENGTH, allow_blank=True),
        max_length=100,
        help_text="The person's skills (short names such as 'welding'), replacing the ones "
        "they had.",
    )

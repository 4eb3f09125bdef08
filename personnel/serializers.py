from rest_framework import serializers

from tasks.models import SKILL_MAX_LENGTH
from tasks.serializers import (
    FlatListField,
    TaskSerializer,
    datetime_representation,
    task_representation,
)

from .models import ApiToken, Person

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
        # Blind (docs/engine.md, "Outcomes"): a task in progress has no outcome yet anyway.
        "current_task": None if task is None else task_representation(task, blind=True),
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


class AuthTokenSerializer(serializers.Serializer):
    """`POST /auth/token`: the credentials in, the token and its expiry out (the schema
    calls them AuthTokenRequest and AuthToken)."""

    username = serializers.CharField(max_length=150, write_only=True)
    password = serializers.CharField(
        max_length=1024, write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )
    token = serializers.CharField(
        read_only=True, help_text="Send it as `Authorization: Token <token>`. Shown once."
    )
    expiry = serializers.DateTimeField(
        read_only=True,
        help_text="When the token ends unless used before; each use pushes it out again.",
    )


class ApiTokenSerializer(serializers.ModelSerializer):
    prefix = serializers.CharField(
        read_only=True, help_text="The token's first characters, to tell tokens apart."
    )

    class Meta:
        model = ApiToken
        fields = ["id", "prefix", "created_at", "last_used_at", "expires_at"]
        read_only_fields = fields


class AccountSerializer(serializers.Serializer):
    """A QC person's login, for supervisors: built from the person's user, with
    `tokens` (their unexpired API tokens) set by the view."""

    username = serializers.CharField(read_only=True)
    is_active = serializers.BooleanField(
        read_only=True, help_text="False: the login is deactivated; nobody signs in with it."
    )
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)
    tokens = ApiTokenSerializer(many=True, read_only=True)


class PasswordSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=128, write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )


class PersonUpdateSerializer(serializers.Serializer):
    skills = FlatListField(
        child=serializers.CharField(max_length=SKILL_MAX_LENGTH, allow_blank=True),
        max_length=100,
        help_text="The person's skills (short names such as 'welding'), replacing the ones "
        "they had.",
    )

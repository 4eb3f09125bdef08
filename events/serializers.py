from rest_framework import serializers

from .models import EventType

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_ID = 2**63 - 1


class EventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, max_value=MAX_ID, default=0)
    types = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)

    def validate_types(self, value: str) -> list[str]:
        types = [t.strip() for t in value.split(",") if t.strip()]
        unknown = sorted(set(types) - set(EventType.values))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(EventType.values)}."
            )
        return types


class EventDataSerializer(serializers.Serializer):
    """The body of an event (more keys may be added; receivers ignore those they do not
    know)."""

    task_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="The task (task events)."
    )
    external_id = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The task's id in the system it came from (task events), or null.",
    )
    person_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The person: assigned to, released from, completed by, signed in or out.",
    )
    path = serializers.ChoiceField(
        ["sign_in", "complete", "assigner", "new_task", "reassign"],
        required=False,
        help_text="task.assigned: how the task was handed out.",
    )
    reason = serializers.CharField(
        required=False,
        help_text="task.released and person.signed_out: why (logout, stale, signed_out, "
        "released, reassigned, cancelled).",
    )


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        help_text="The event's id: its place in the order of events (the `after` cursor); "
        "the webhook-id of its deliveries is `evt_<id>`."
    )
    type = serializers.ChoiceField(EventType.choices)
    timestamp = serializers.DateTimeField(help_text="When the change happened (database clock).")
    data = EventDataSerializer()


class EventPageSerializer(serializers.Serializer):
    next = serializers.URLField(
        help_text="The URL of the next page: the events after the last one here. When "
        "`has_more` is false, poll it later for new events."
    )
    has_more = serializers.BooleanField(help_text="Whether more events wait now.")
    last_id = serializers.IntegerField(
        help_text="The id to resume after (the last event here, else the `after` given)."
    )
    results = EventSerializer(many=True)

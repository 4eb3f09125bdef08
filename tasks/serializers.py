from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from qcproject.db import db_now

from . import routing
from .models import (
    DECLINE_REASON_MAX_LENGTH,
    DEFECT_CODE_MAX_LENGTH,
    MAX_PRIORITY,
    MAX_REVIEWS,
    NOTES_MAX_LENGTH,
    SKILL_MAX_LENGTH,
    DefectCode,
    EndReason,
    Outcome,
    Task,
    TaskStatus,
)
from .reviews import MAX_DEFECTS
from .services import MAX_DESCRIPTION_LENGTH

# DRF's own formatting of a datetime (ISO 8601, "Z" for UTC), for the representations built
# by hand. In the default time zone (TIME_ZONE, UTC) rather than DRF's "current" one, which
# is the same here (nothing activates another) and costs a context-local lookup per value.
datetime_representation = serializers.DateTimeField(
    default_timezone=timezone.get_default_timezone()
).to_representation


def task_representation(task: Task, *, blind: bool = False) -> dict:
    """What TaskSerializer gives for a task, built by hand (see its to_representation).

    `blind`: as a QC person sees it (reviews are blind, docs/engine.md, "Outcomes"): no
    outcome, and a disputed task shows as completed (their part is done), so that their
    answer tells nothing of another reviewer's verdict."""
    status = task.status
    if blind and status == TaskStatus.DISPUTED:
        status = TaskStatus.COMPLETED
    return {
        "id": task.pk,
        "description": task.description,
        "status": status,
        "created_at": datetime_representation(task.created_at),
        "assigned_to_id": task.assigned_to_id,
        "priority": task.priority,
        "skill": task.skill,
        "max_handle_seconds": task.max_handle_seconds,
        "expires_at": None if task.expires_at is None else datetime_representation(task.expires_at),
        "reviews_required": task.reviews_required,
        "reviews_done": task.reviews_done,
        "outcome": (task.outcome or None) if not blind else None,
    }


class OutcomeField(serializers.ChoiceField):
    """A verdict as the API shows it: "pass", "fail", or null for none (blank in the row)."""

    def __init__(self, **kwargs):
        super().__init__(choices=Outcome.choices, **kwargs)

    def to_representation(self, value):
        return super().to_representation(value) if value else None


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
    reviews_required = serializers.IntegerField(
        read_only=True,
        help_text=f"1 to {MAX_REVIEWS}: the different people who review it before it is COMPLETED.",
    )
    reviews_done = serializers.IntegerField(read_only=True, help_text="Reviews so far.")
    outcome = OutcomeField(
        read_only=True,
        allow_null=True,
        help_text="The final verdict, once COMPLETED (null: none given, or not yet). Reviews "
        "are blind: null in a QC person's answers, where a DISPUTED task shows as COMPLETED.",
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
            "reviews_required",
            "reviews_done",
            "outcome",
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


class ReviewsRequiredMixin(serializers.Serializer):
    reviews_required = StrictIntegerField(
        min_value=1,
        max_value=MAX_REVIEWS,
        required=False,
        help_text=f"1 (the default) to {MAX_REVIEWS}: the different people who review the "
        "task before it is COMPLETED; reviews that disagree make it DISPUTED.",
    )


class TaskCreateSerializer(RoutingFieldsMixin, ReviewsRequiredMixin):
    description = serializers.CharField(max_length=MAX_DESCRIPTION_LENGTH, trim_whitespace=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("priority", "skill", "max_handle_seconds", "expires_at"):
            self.fields[name].required = False


class TaskUpdateSerializer(RoutingFieldsMixin, ReviewsRequiredMixin):
    """`PATCH /tasks/{id}`: any of the routing fields of a pending task, and the reviews it
    needs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("priority", "skill", "max_handle_seconds", "expires_at"):
            self.fields[name].required = False

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one of priority, skill, max_handle_seconds, expires_at, "
                "reviews_required."
            )
        return attrs


class TaskDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=DECLINE_REASON_MAX_LENGTH,
        trim_whitespace=True,
        help_text="Why the task is handed back (shown to supervisors).",
    )


class FlatListField(serializers.ListField):
    """A list whose items' errors are messages of the field itself ("Item 3: …"), as the
    API's error body documents them (field → messages), not a mapping by index."""

    def run_child_validation(self, data):
        result, errors = [], []
        for index, item in enumerate(data):
            try:
                result.append(self.child.run_validation(item))
            except serializers.ValidationError as exc:
                errors += [f"Item {index}: {message}" for message in exc.detail]
        if errors:
            raise serializers.ValidationError(errors)
        return result


class TaskVerdictSerializer(serializers.Serializer):
    """The body of complete: the person's verdict, all optional (unless QC_REQUIRE_OUTCOME:
    then `outcome` is required)."""

    outcome = serializers.ChoiceField(
        choices=Outcome.choices,
        required=False,
        help_text='"pass" or "fail"; required when the site sets QC_REQUIRE_OUTCOME.',
    )
    notes = serializers.CharField(
        max_length=NOTES_MAX_LENGTH,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text="What the reviewer saw (shown to supervisors, never to other reviewers).",
    )
    defects = FlatListField(
        child=serializers.CharField(max_length=DEFECT_CODE_MAX_LENGTH),
        required=False,
        max_length=MAX_DEFECTS,
        help_text='Codes of the defect catalogue (active ones), such as ["SCRATCH"].',
    )
    person_id = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        help_text="A supervisor completing for a reviewer: whose review this is (the task "
        "must be in progress for them). Without it the complete is for whoever holds the "
        "task, which a retry after a lost answer cannot tell from the next reviewer.",
    )


class DefectCodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = DefectCode
        fields = ["code", "description"]
        read_only_fields = fields


class TaskResolveSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=Outcome.choices, help_text='The final verdict: "pass" or "fail".'
    )
    note = serializers.CharField(
        max_length=NOTES_MAX_LENGTH,
        trim_whitespace=True,
        help_text="Why (kept with the task, and in the audit trail).",
    )


class ReviewSerializer(serializers.Serializer):
    """A review of a task: the assignment that completed it, with its verdict."""

    person_id = serializers.IntegerField()
    outcome = OutcomeField(allow_null=True)
    notes = serializers.CharField()
    defects = serializers.ListField(child=serializers.CharField())
    assigned_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField()

    def to_representation(self, review):
        return {
            "person_id": review.person_id,
            "outcome": review.outcome or None,
            "notes": review.notes,
            "defects": list(review.defects or ()),
            "assigned_at": datetime_representation(review.assigned_at),
            "completed_at": datetime_representation(review.completed_at),
        }


class TaskDetailSerializer(TaskSerializer):
    """One task as a supervisor sees it: with its reviews, and a dispute's resolution."""

    reviews = ReviewSerializer(many=True, read_only=True)
    resolution_note = serializers.CharField(
        read_only=True, help_text="A supervisor's note resolving a dispute (blank: none)."
    )

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "resolution_note", "reviews"]
        read_only_fields = fields

    def to_representation(self, task):
        done = task.assignments.filter(end_reason=EndReason.COMPLETED).order_by("completed_at")
        return {
            **task_representation(task),
            "resolution_note": task.resolution_note,
            "reviews": ReviewSerializer(done, many=True).data,
        }


class TaskCompleteSerializer(TaskSerializer):
    """The answer to complete and decline: the task, and the next one, already assigned."""

    next_task = TaskSerializer(allow_null=True, read_only=True)

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "next_task"]
        read_only_fields = fields

    def to_representation(self, task):
        # As its person sees it, when they act for themselves (`blind` in the context).
        following, blind = task.next_task, self.context.get("blind", False)
        return {
            **task_representation(task, blind=blind),
            "next_task": None if following is None else task_representation(following, blind=blind),
        }


class TaskReassignSerializer(serializers.Serializer):
    person_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)

from django.db import models
from django.db.models import Case, F, When
from django.db.models.functions import Now


class TaskStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    COMPLETED = "COMPLETED", "Completed"


class TaskQuerySet(models.QuerySet):
    def pending(self):
        """The queue: pending tasks, oldest first (index `qc_tasks_queue`)."""
        return self.filter(status=TaskStatus.PENDING).order_by("created_at", "id")

    def open(self):
        """Pending and in-progress tasks, oldest first."""
        return self.filter(status__in=[TaskStatus.PENDING, TaskStatus.IN_PROGRESS]).order_by(
            "created_at", "id"
        )

    def in_progress_for(self, person_ids):
        """Tasks in progress for these people (through the unique `in_progress_person`)."""
        return self.filter(in_progress_person__in=person_ids)


class Task(models.Model):
    description = models.TextField()
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    # The database's clock; a task put back in the queue keeps it, so it keeps its place.
    created_at = models.DateTimeField(db_default=Now())
    assigned_to = models.ForeignKey(
        "personnel.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    # The assignee while the task is in progress, else NULL. MySQL ignores conditional unique
    # constraints, but it enforces a unique index on a stored generated column, and NULLs do
    # not collide: at most one task in progress per person (pitfall 10).
    in_progress_person = models.GeneratedField(
        expression=Case(
            When(status=TaskStatus.IN_PROGRESS, then=F("assigned_to_id")),
            default=None,
        ),
        output_field=models.BigIntegerField(null=True),
        db_persist=True,
        unique=True,
        editable=False,
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        db_table = "qc_tasks"
        ordering = ["created_at", "id"]
        indexes = [
            # The queue: pending (and open) tasks, oldest first, without a filesort and
            # without touching completed rows.
            models.Index(fields=["status", "created_at", "id"], name="qc_tasks_queue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=TaskStatus.values), name="qc_tasks_status_valid"
            ),
            # In progress means someone has it; pending means nobody does.
            models.CheckConstraint(
                condition=~models.Q(status=TaskStatus.IN_PROGRESS)
                | models.Q(assigned_to__isnull=False),
                name="qc_tasks_in_progress_has_assignee",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=TaskStatus.PENDING) | models.Q(assigned_to__isnull=True),
                name="qc_tasks_pending_has_no_assignee",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.description[:60]}"


class AssignmentSource(models.TextChoices):
    ASSIGNER = "ASSIGNER", "Assigner cycle"
    LOGIN = "LOGIN", "On sign-in"
    COMPLETE = "COMPLETE", "After completing a task"
    NEW_TASK = "NEW_TASK", "On task creation"


class EndReason(models.TextChoices):
    COMPLETED = "COMPLETED", "Completed"
    LOGOUT = "LOGOUT", "Released on sign-out"
    STALE = "STALE", "Released on stale session"


class AssignmentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(ended_at__isnull=True)


class Assignment(models.Model):
    """The audit log: one row per time a task was given to a person, closed once."""

    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="assignments")
    person = models.ForeignKey(
        "personnel.Person", on_delete=models.PROTECT, related_name="assignments"
    )
    assigned_at = models.DateTimeField(db_default=Now())
    source = models.CharField(max_length=16, choices=AssignmentSource.choices)
    # Set when the person completed the task (the seed's column).
    completed_at = models.DateTimeField(null=True, blank=True)
    # Set when the assignment ended for any reason, with the reason.
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    # The task and the person while the assignment is open, else NULL: unique, so a task has
    # at most one open assignment and a person at most one (pitfall 10).
    open_task = models.GeneratedField(
        expression=Case(When(ended_at__isnull=True, then=F("task_id")), default=None),
        output_field=models.BigIntegerField(null=True),
        db_persist=True,
        unique=True,
        editable=False,
    )
    open_person = models.GeneratedField(
        expression=Case(When(ended_at__isnull=True, then=F("person_id")), default=None),
        output_field=models.BigIntegerField(null=True),
        db_persist=True,
        unique=True,
        editable=False,
    )

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        db_table = "qc_assignments"
        ordering = ["-assigned_at", "-id"]
        indexes = [
            models.Index(fields=["person", "assigned_at"], name="qc_assignments_person"),
            models.Index(fields=["task", "assigned_at"], name="qc_assignments_task"),
            models.Index(fields=["assigned_at"], name="qc_assignments_assigned_at"),
        ]
        constraints = [
            # An assignment ends once, with its reason; completed_at only when completed.
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True, end_reason="")
                | models.Q(ended_at__isnull=False, end_reason__in=EndReason.values),
                name="qc_assignments_end_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(completed_at__isnull=True)
                | models.Q(end_reason=EndReason.COMPLETED),
                name="qc_assignments_completed_at_means_completed",
            ),
        ]

    def __str__(self):
        return f"task {self.task_id} → person {self.person_id}"

from datetime import UTC, datetime

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Case, F, When
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TaskStatus(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    IN_PROGRESS = "IN_PROGRESS", _("In progress")
    COMPLETED = "COMPLETED", _("Completed")
    # A task that should not be done: never assigned, left out of the queue.
    CANCELLED = "CANCELLED", _("Cancelled")
    # A pending task whose `expires_at` passed: never assigned, left out of the queue.
    EXPIRED = "EXPIRED", _("Expired")
    # Its reviews disagree (a pass and a fail): out of the queue until a supervisor resolves
    # it with the final outcome (docs/engine.md, "Outcomes").
    DISPUTED = "DISPUTED", _("Disputed")


class Outcome(models.TextChoices):
    """A review's verdict, and a task's final outcome."""

    PASS = "pass", _("Pass")
    FAIL = "fail", _("Fail")


# Priorities run from 0 (the default) to MAX_PRIORITY, higher first (docs/engine.md,
# "Routing"); a skill is a short name (a slug).
MAX_PRIORITY = 9
SKILL_MAX_LENGTH = 32
# A task is completed once this many different people have reviewed it (1 by default).
MAX_REVIEWS = 5
# A review's notes, and a supervisor's note resolving a dispute, at most this long.
NOTES_MAX_LENGTH = 2000
# A defect code: a short name, such as "SCRATCH".
DEFECT_CODE_MAX_LENGTH = 32
DEFECT_CODE_PATTERN = r"\A[A-Z0-9][A-Z0-9_-]*\Z"


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
    description = models.TextField(_("description"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=TaskStatus.choices,
        default=TaskStatus.PENDING,
    )
    # The database's clock; a task put back in the queue keeps it, so it keeps its place.
    created_at = models.DateTimeField(_("created"), db_default=Now())
    # When the task was first given to someone: the end of its wait (the dashboard's figure).
    first_assigned_at = models.DateTimeField(
        _("first assigned"), null=True, blank=True, editable=False
    )
    # An identifier from the system the task came from; importing it again creates nothing.
    # NULLs do not collide, so only tasks that have one are unique by it.
    external_id = models.CharField(
        _("external id"), max_length=255, null=True, blank=True, unique=True
    )
    assigned_to = models.ForeignKey(
        "personnel.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
        verbose_name=_("assigned to"),
    )
    # Routing (docs/engine.md, "Routing"): higher first, aged while the task waits; only
    # people with `skill` may take it (null: anyone); a time limit once in progress (null:
    # QC_MAX_HANDLE_TIME; 0: none); a pending task is never assigned once `expires_at` passed.
    priority = models.PositiveSmallIntegerField(_("priority"), default=0, db_default=0)
    # NULL, not "": the API's null, and one index range (`skill IS NULL`) for "anyone".
    skill = models.CharField(  # noqa: DJ001
        _("skill"), max_length=SKILL_MAX_LENGTH, null=True, blank=True
    )
    max_handle_seconds = models.PositiveIntegerField(_("time limit (s)"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # The assignee while the task is in progress, else NULL. MySQL ignores conditional unique
    # constraints, but it enforces a unique index on a stored generated column, and NULLs do
    # not collide: at most one task in progress per person (docs/engine.md, "Invariants", I1).
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
    # Outcomes (docs/engine.md, "Outcomes"): the task is completed once `reviews_required`
    # different people have completed it; each completion is a review (its assignment row
    # holds the verdict). `outcome` is the final verdict: the reviews' (blank when none gave
    # one), or a supervisor's when they disagreed (DISPUTED, then resolved).
    reviews_required = models.PositiveSmallIntegerField(
        _("reviews required"), default=1, db_default=1
    )
    reviews_done = models.PositiveSmallIntegerField(
        _("reviews done"), default=0, db_default=0, editable=False
    )
    outcome = models.CharField(
        _("outcome"),
        max_length=8,
        choices=Outcome.choices,
        blank=True,
        default="",
        db_default="",
        editable=False,
    )
    # Chosen at random at its first completion for a blind second review
    # (QC_REVIEW_SAMPLE_RATE): the dashboard's agreement figures count these.
    sampled = models.BooleanField(_("sampled"), default=False, db_default=False, editable=False)
    # The supervisor's note when resolving a dispute.
    resolution_note = models.CharField(
        _("resolution note"),
        max_length=NOTES_MAX_LENGTH,
        blank=True,
        default="",
        db_default="",
        editable=False,
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        db_table = "qc_tasks"
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["created_at", "id"]
        permissions = [
            ("supervise", "Can use the supervisor API (queue, status, tasks, personnel)"),
            ("intervene", "Can sign people out and release, reassign and cancel tasks"),
            ("import_tasks", "Can import tasks from a file"),
            ("export_assignments", "Can export the assignment history"),
            ("view_dashboard", "Can view the supervisor dashboard"),
        ]
        indexes = [
            # The queue: pending (and open) tasks, oldest first, without a filesort and
            # without touching completed rows.
            models.Index(fields=["status", "created_at", "id"], name="qc_tasks_queue"),
            # The pick: the oldest pending tasks of one (skill, priority) group, read from the
            # index alone (`expires_at` is in it so that expired tasks are passed over
            # without reading their rows).
            models.Index(
                fields=["status", "skill", "priority", "created_at", "id", "expires_at"],
                name="qc_tasks_route",
            ),
            # The pick of tasks whose skill requirement has lapsed (QC_SKILL_RELAX_AFTER):
            # the oldest pending tasks of one priority, whatever their skill; and the
            # dashboard's pending tasks by priority.
            models.Index(
                fields=["status", "priority", "created_at", "id", "expires_at"],
                name="qc_tasks_relaxed",
            ),
            # The assigner's expiry step: pending tasks past `expires_at`.
            models.Index(fields=["status", "expires_at"], name="qc_tasks_expiry"),
            # The dashboard's flow over a window: tasks created, tasks first assigned.
            models.Index(fields=["created_at"], name="qc_tasks_created_at"),
            # With the creation time: the dashboard's waits (first assigned - created) of a
            # window's latest tasks are read from the index alone.
            models.Index(fields=["first_assigned_at", "created_at"], name="qc_tasks_waits"),
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
                condition=~models.Q(
                    status__in=[TaskStatus.PENDING, TaskStatus.CANCELLED, TaskStatus.EXPIRED]
                )
                | models.Q(assigned_to__isnull=True),
                name="qc_tasks_waiting_or_cancelled_has_no_assignee",
            ),
            models.CheckConstraint(
                condition=models.Q(priority__lte=MAX_PRIORITY), name="qc_tasks_priority_range"
            ),
            models.CheckConstraint(
                condition=models.Q(reviews_required__gte=1, reviews_required__lte=MAX_REVIEWS),
                name="qc_tasks_reviews_required_range",
            ),
            # Never completed with fewer reviews than required (each by a different person:
            # `Exclusion`, docs/engine.md, "Invariants").
            models.CheckConstraint(
                condition=~models.Q(status=TaskStatus.COMPLETED)
                | models.Q(reviews_done__gte=F("reviews_required")),
                name="qc_tasks_completed_has_its_reviews",
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=["", *Outcome.values]),
                name="qc_tasks_outcome_valid",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.description[:60]}"


class AssignmentSource(models.TextChoices):
    ASSIGNER = "ASSIGNER", _("Assigner cycle")
    LOGIN = "LOGIN", _("On sign-in")
    COMPLETE = "COMPLETE", _("After completing a task")
    NEW_TASK = "NEW_TASK", _("On task creation")
    SUPERVISOR = "SUPERVISOR", _("Reassigned by a supervisor")
    DECLINE = "DECLINE", _("After declining a task")


class EndReason(models.TextChoices):
    COMPLETED = "COMPLETED", _("Completed")
    LOGOUT = "LOGOUT", _("Released on sign-out")
    STALE = "STALE", _("Released on stale session")
    SIGNED_OUT = "SIGNED_OUT", _("Released: signed out by a supervisor")
    RELEASED = "RELEASED", _("Put back in the queue by a supervisor")
    REASSIGNED = "REASSIGNED", _("Reassigned by a supervisor")
    CANCELLED = "CANCELLED", _("Task cancelled")
    DECLINED = "DECLINED", _("Declined by the person")
    TIMED_OUT = "TIMED_OUT", _("Taken back: over the time limit")


# The ways an assignment ends without its task completed (the dashboard's and /metrics'
# "released" figures).
RELEASE_REASONS = tuple(r for r in EndReason.values if r != EndReason.COMPLETED)

# The ways a task is taken from its holder by the engine or a supervisor, not by the person:
# the person's `last_release` records the latest (the portal tells them why their task
# changed; a reconnect finds the task a stale session released).
TAKEN_BACK_REASONS = (
    EndReason.STALE,
    EndReason.TIMED_OUT,
    EndReason.SIGNED_OUT,
    EndReason.RELEASED,
    EndReason.REASSIGNED,
    EndReason.CANCELLED,
)
# The longest reason a person may give for declining a task.
DECLINE_REASON_MAX_LENGTH = 500


class AssignmentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(ended_at__isnull=True)


class Assignment(models.Model):
    """The audit log: one row per time a task was given to a person, closed once."""

    task = models.ForeignKey(
        Task, on_delete=models.PROTECT, related_name="assignments", verbose_name=_("task")
    )
    person = models.ForeignKey(
        "personnel.Person",
        on_delete=models.PROTECT,
        related_name="assignments",
        verbose_name=_("person"),
    )
    assigned_at = models.DateTimeField(
        pgettext_lazy("when an assignment began", "assigned"), db_default=Now()
    )
    source = models.CharField(_("source"), max_length=16, choices=AssignmentSource.choices)
    # Set when the person completed the task (the seed's column).
    completed_at = models.DateTimeField(
        pgettext_lazy("when an assignment's task was completed", "completed"),
        null=True,
        blank=True,
    )
    # Set when the assignment ended for any reason, with the reason.
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    end_reason = models.CharField(
        _("end reason"), max_length=16, choices=EndReason.choices, blank=True
    )
    # What the person said when they declined the task (DECLINED only).
    decline_reason = models.CharField(
        _("decline reason"), max_length=DECLINE_REASON_MAX_LENGTH, blank=True, db_default=""
    )
    # The task and the person while the assignment is open, else NULL: unique, so a task has
    # at most one open assignment and a person at most one (docs/engine.md, "Invariants", I1).
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

    # The review, when the person completed the task: their verdict (blank: none given),
    # notes and defect codes (`DefectCode`; NULL: none).
    outcome = models.CharField(
        _("verdict"),
        max_length=8,
        choices=Outcome.choices,
        blank=True,
        default="",
        db_default="",
    )
    notes = models.CharField(
        _("notes"), max_length=NOTES_MAX_LENGTH, blank=True, default="", db_default=""
    )
    defects = models.JSONField(_("defects"), null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        db_table = "qc_assignments"
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["-assigned_at", "-id"]
        indexes = [
            models.Index(fields=["person", "assigned_at"], name="qc_assignments_person"),
            models.Index(fields=["task", "assigned_at"], name="qc_assignments_task"),
            models.Index(fields=["assigned_at"], name="qc_assignments_assigned_at"),
            # The dashboard's flow: completions and releases (by reason) over a window.
            # With the assignment time: the dashboard's handle times (completed - assigned)
            # of a window's latest completions are read from the index alone.
            models.Index(fields=["completed_at", "assigned_at"], name="qc_assignments_handled"),
            # The dashboard's "completed today" per person, without reading their history.
            models.Index(fields=["person", "completed_at"], name="qc_assignments_person_done"),
            models.Index(fields=["end_reason", "ended_at"], name="qc_assignments_ended"),
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
            models.CheckConstraint(
                condition=models.Q(decline_reason="") | models.Q(end_reason=EndReason.DECLINED),
                name="qc_assignments_decline_reason_means_declined",
            ),
            # A verdict belongs to a completed assignment.
            models.CheckConstraint(
                condition=models.Q(outcome="")
                | models.Q(outcome__in=Outcome.values, end_reason=EndReason.COMPLETED),
                name="qc_assignments_verdict_means_completed",
            ),
        ]

    def __str__(self):
        return f"task {self.task_id} → person {self.person_id}"


class AuditAction(models.TextChoices):
    SIGN_OUT = "SIGN_OUT", _("Signed a person out")
    RELEASE = "RELEASE", _("Put a task back in the queue")
    REASSIGN = "REASSIGN", _("Reassigned a task")
    CANCEL = "CANCEL", _("Cancelled a task")
    IMPORT = "IMPORT", _("Imported tasks")
    SET_PASSWORD = "SET_PASSWORD", _("Set a person's password")
    DEACTIVATE = "DEACTIVATE", _("Deactivated a login")
    REACTIVATE = "REACTIVATE", _("Reactivated a login")
    REVOKE_TOKENS = "REVOKE_TOKENS", _("Revoked API tokens")
    UNLOCK = "UNLOCK", _("Unlocked a sign-in locked by failures")
    DECLINE = "DECLINE", _("Declined a task for a person")
    TASK_EDIT = "TASK_EDIT", _("Changed a task")
    SKILLS = "SKILLS", _("Set a person's skills")
    RESOLVE = "RESOLVE", _("Resolved a disputed task")


class AuditEvent(models.Model):
    """A supervisor's intervention, on work or on a login: who did what to whom, when.
    Written in the same transaction as the change it records."""

    at = models.DateTimeField(_("when"), db_default=Now())
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("supervisor's account"),
    )
    # Kept as text too, so the record survives the account.
    actor_username = models.CharField(_("supervisor"), max_length=150)
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    person = models.ForeignKey(
        "personnel.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("person"),
    )
    task = models.ForeignKey(
        Task,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        verbose_name=_("task"),
    )
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        db_table = "qc_audit_events"
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["at"], name="qc_audit_events_at")]

    def __str__(self):
        return f"{self.actor_username}: {self.get_action_display()}"


class ExclusionReason(models.TextChoices):
    DECLINED = "DECLINED", _("Declined")
    # Reviewed it already: a task that needs more reviews never goes back to a reviewer.
    REVIEWED = "REVIEWED", _("Reviewed")


class Exclusion(models.Model):
    """A task never offered again to a person by any automatic path (the pick passes over
    it for them; a supervisor may still give it to them). Written while the person's row is
    locked (docs/engine.md, "Routing"), so the pick, which holds that lock, sees a stable
    set."""

    task = models.ForeignKey(
        Task, on_delete=models.PROTECT, related_name="exclusions", verbose_name=_("task")
    )
    person = models.ForeignKey(
        "personnel.Person",
        on_delete=models.PROTECT,
        related_name="exclusions",
        verbose_name=_("person"),
    )
    reason = models.CharField(_("reason"), max_length=16, choices=ExclusionReason.choices)
    at = models.DateTimeField(_("at"), db_default=Now())

    class Meta:
        db_table = "qc_task_exclusions"
        ordering = ["-at", "-id"]
        verbose_name = _("exclusion")
        verbose_name_plural = _("exclusions")
        constraints = [
            # One row per (task, person); the pick's lookup of "excluded for this person".
            models.UniqueConstraint(fields=["task", "person"], name="qc_exclusions_task_person")
        ]

    def __str__(self):
        return f"task {self.task_id} not for person {self.person_id} ({self.reason})"


class DefectCodeQuerySet(models.QuerySet):
    def active(self):
        """The codes a new review may log, by code."""
        return self.filter(active=True).order_by("code")


class DefectCode(models.Model):
    """The catalogue of defects a review may log, kept by supervisors. A code is never
    deleted once used (reviews refer to it by its text); an inactive code is refused in new
    reviews and kept in old ones."""

    code = models.CharField(
        _("code"),
        max_length=DEFECT_CODE_MAX_LENGTH,
        unique=True,
        validators=[
            RegexValidator(
                DEFECT_CODE_PATTERN,
                _("Capital letters, digits, '_' and '-', starting with a letter or digit."),
            )
        ],
        help_text=_("Such as SCRATCH or LABEL-MISSING: what reviews log."),
    )
    description = models.CharField(_("description"), max_length=200)
    active = models.BooleanField(_("active"), default=True)

    objects = DefectCodeQuerySet.as_manager()

    class Meta:
        db_table = "qc_defect_codes"
        ordering = ["code"]
        verbose_name = _("defect code")
        verbose_name_plural = _("defect codes")

    def __str__(self):
        return f"{self.code}: {self.description}"


class AssignerInstance(models.Model):
    """One `run_assigner` under its stable name (`--name`: the systemd instance, else the
    host name), as it last reported itself, for metrics and the dashboard.

    A clean stop deletes the row; a process that died keeps it, its `last_cycle_at` growing
    old (the "assigner down" alert), until it restarts under the same name and takes the
    row over, or the row is older than QC_ASSIGNER_STALE_AFTER and is no longer shown.
    """

    name = models.CharField(_("name"), max_length=255, unique=True)
    # The process that holds the name now ("host:pid"): a second process started under a
    # name held by a live one is noticed, and a clean stop deletes only its own row.
    holder = models.CharField(_("process"), max_length=255, blank=True, default="")
    started_at = models.DateTimeField(_("started"), db_default=Now())
    last_cycle_at = models.DateTimeField(_("last cycle"), null=True)
    last_cycle_seconds = models.FloatField(_("last cycle took (s)"), default=0)
    cycles = models.BigIntegerField(_("cycles"), default=0)
    assigned_total = models.BigIntegerField(_("tasks assigned"), default=0)
    released_total = models.BigIntegerField(_("tasks released"), default=0)

    class Meta:
        db_table = "qc_assigners"
        verbose_name = _("assigner instance")
        verbose_name_plural = _("assigner instances")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Counter(models.Model):
    """Running totals of what the engine does (tasks created, assignments by source,
    completions, releases by reason), for the metrics page and the dashboard.

    Incremented inside the transaction that does the counted thing, so a total is exact and
    rolls back with it. A count goes to two rows: the running total (`hour` = ALL_TIME)
    and the hour it happened in (the database's clock), so that the dashboard adds up a
    window's hours instead of counting a week of history. Each is spread over SHARDS rows,
    so concurrent transactions rarely wait for the same row; a figure is the sum of its
    shards. Where an hour's row exists, its name's running total row does too.
    """

    SHARDS = 16
    # The `hour` of the running totals' rows (no real hour is this old).
    ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)

    name = models.CharField(max_length=64)
    hour = models.DateTimeField(default=ALL_TIME)
    shard = models.PositiveSmallIntegerField()
    value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "qc_counters"
        constraints = [
            # Hour first: the totals (one `hour`) and a window (a range of hours) are ranges.
            models.UniqueConstraint(
                fields=["hour", "name", "shard"], name="qc_counters_hour_name_shard"
            )
        ]

    def __str__(self):
        when = "total" if self.hour == self.ALL_TIME else f"{self.hour:%Y-%m-%d %H}h"
        return f"{self.name} {when} [{self.shard}] = {self.value}"


class WaitHour(models.Model):
    """The wait (created -> first assigned) percentiles of one closed hour, for the
    dashboard's charts: computed once from that hour's tasks through `qc_tasks_waits`
    (`tasks.rollups`), so that a 7-day chart reads 168 rows, not a week of tasks."""

    # The start of the hour, UTC; the primary key, so that a window is a range of it.
    hour = models.DateTimeField(primary_key=True)
    tasks = models.IntegerField()  # tasks first assigned in the hour
    p50 = models.FloatField(null=True)  # seconds; NULL when no task was assigned
    p90 = models.FloatField(null=True)

    class Meta:
        db_table = "qc_wait_hours"
        ordering = ["hour"]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}h: {self.tasks} tasks"


class PendingImport(models.Model):
    """An import file checked and shown in the preview, waiting for its supervisor's
    confirmation: the parsed rows, kept in a table of their own (`PendingImportChunk`)
    rather than in the session, for one supervisor, until `expires_at`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64, unique=True)
    file_name = models.CharField(max_length=255)
    row_count = models.IntegerField()
    created_at = models.DateTimeField(db_default=Now())
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "qc_pending_imports"

    def __str__(self):
        return f"{self.file_name} ({self.row_count} rows)"


class PendingImportChunk(models.Model):
    """A slice of a pending import's rows (zlib-compressed JSON), small enough for any
    server's max_allowed_packet however large the file."""

    pending = models.ForeignKey(PendingImport, on_delete=models.CASCADE, related_name="chunks")
    seq = models.IntegerField()
    data = models.BinaryField()

    class Meta:
        db_table = "qc_pending_import_chunks"
        constraints = [
            models.UniqueConstraint(fields=["pending", "seq"], name="qc_pending_import_chunk_seq")
        ]

    def __str__(self):
        return f"{self.pending_id} [{self.seq}]"

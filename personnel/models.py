from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models.functions import Now

if TYPE_CHECKING:
    from tasks.models import Task


def heartbeat_cutoff(timeout: int | None = None):
    """`NOW() - timeout` on the database's clock: a heartbeat older than this is stale."""
    seconds = settings.QC_HEARTBEAT_TIMEOUT if timeout is None else timeout
    return Now() - models.Value(timedelta(seconds=seconds), output_field=models.DurationField())


# Whether a work session is live, the one definition (docs/engine.md, "Liveness"): signed
# in, and heard from within the heartbeat timeout on the database's clock. A stale session
# is its complement among signed-in people, written as a range on the same index so that
# the sweep's locking read scans only the stale rows. The hand-written statements compile
# these same conditions (tasks/sql.py).


def session_live(timeout: int | None = None) -> models.Q:
    return models.Q(is_logged_in=True, last_heartbeat__gte=heartbeat_cutoff(timeout))


def session_stale(timeout: int | None = None) -> models.Q:
    return models.Q(is_logged_in=True, last_heartbeat__lt=heartbeat_cutoff(timeout))


class PersonQuerySet(models.QuerySet):
    def logged_in(self):
        return self.filter(is_logged_in=True)

    def free(self):
        """Signed in, without a task, longest idle first (index `qc_personnel_free`)."""
        return self.filter(is_logged_in=True, is_busy=False).order_by("idle_since", "id")

    def stale(self, *, timeout: int | None = None):
        """Signed in, but silent for longer than `timeout` seconds (index `qc_personnel_stale`)."""
        return self.filter(session_stale(timeout)).order_by("last_heartbeat", "id")

    def live(self, *, timeout: int | None = None):
        """Signed in, with a heartbeat younger than `timeout` seconds."""
        return self.filter(session_live(timeout))

    def with_liveness(self, *, timeout: int | None = None):
        """Annotate `is_live`: signed in and heard from within the timeout."""
        return self.annotate(
            is_live=models.ExpressionWrapper(
                session_live(timeout), output_field=models.BooleanField()
            )
        )


NAME_MAX_LENGTH = 255


class Person(models.Model):
    """A member of the QC staff, with the state the assigner works from.

    `is_logged_in`, `is_busy` and the timestamps change only through the engine's services
    (`tasks.sessions`, `tasks.services`, `tasks.interventions`, `tasks.assigner`); `is_busy`
    is true exactly when the person has a task in progress.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="person"
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    is_logged_in = models.BooleanField(default=False)
    is_busy = models.BooleanField(default=False)
    # Tracks the last time the person's client sent a signal (the database's clock).
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    # When the current work session started; null when signed out.
    logged_in_at = models.DateTimeField(null=True, blank=True)
    # Since when the person has been free; the assigner serves the longest idle first.
    idle_since = models.DateTimeField(null=True, blank=True)
    # How the last session ended (an `EndReason` value: LOGOUT, STALE, …); blank while
    # signed in or never signed in. Tells a late client "expired" from "never started".
    signed_out_reason = models.CharField(max_length=16, blank=True)
    # The skills the person has (short names; a task with a skill goes only to people who
    # have it), set by a supervisor.
    skills = models.JSONField(default=list, blank=True)
    # The latest task taken from the person by the engine or a supervisor (an `EndReason`
    # of `tasks.models.TAKEN_BACK_REASONS`), and when: the portal tells the person why their
    # task changed, and a sign-in soon after a stale session gives the task back.
    last_release_task_id = models.BigIntegerField(null=True, blank=True)
    last_release_reason = models.CharField(max_length=16, blank=True)
    last_release_at = models.DateTimeField(null=True, blank=True)

    objects = PersonQuerySet.as_manager()

    # Not columns: set by the engine's reads. Whether the session is live (`people_lock`,
    # `with_liveness`), the database's clock when the row was locked (`people_lock`), and
    # the task in progress (`person_get`).
    is_live: bool
    db_now: datetime
    current_task: "Task | None"

    class Meta:
        db_table = "qc_personnel"
        verbose_name = "QC person"
        verbose_name_plural = "QC personnel"
        ordering = ["name", "id"]
        indexes = [
            # The assigner's locking read: free people, longest idle first.
            models.Index(
                fields=["is_logged_in", "is_busy", "idle_since", "id"], name="qc_personnel_free"
            ),
            # The stale sweep's locking read.
            models.Index(fields=["is_logged_in", "last_heartbeat"], name="qc_personnel_stale"),
        ]

    def __str__(self):
        return self.name

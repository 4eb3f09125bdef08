from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

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
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="person",
        verbose_name=_("login"),
    )
    name = models.CharField(_("name"), max_length=NAME_MAX_LENGTH)
    is_logged_in = models.BooleanField(_("signed in"), default=False)
    is_busy = models.BooleanField(_("busy"), default=False)
    # Tracks the last time the person's client sent a signal (the database's clock).
    last_heartbeat = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    # When the current work session started; null when signed out.
    logged_in_at = models.DateTimeField(_("signed in at"), null=True, blank=True)
    # Since when the person has been free; the assigner serves the longest idle first.
    idle_since = models.DateTimeField(_("idle since"), null=True, blank=True)
    # How the last session ended (an `EndReason` value: LOGOUT, STALE, …); blank while
    # signed in or never signed in. Tells a late client "expired" from "never started".
    signed_out_reason = models.CharField(_("end of the last session"), max_length=16, blank=True)
    # The skills the person has (short names; a task with a skill goes only to people who
    # have it), set by a supervisor.
    skills = models.JSONField(_("skills"), default=list, blank=True)
    # The latest task taken from the person by the engine or a supervisor (an `EndReason`
    # of `tasks.models.TAKEN_BACK_REASONS`), and when: the portal tells the person why their
    # task changed, and a sign-in soon after a stale session gives the task back.
    last_release_task_id = models.BigIntegerField(_("last task taken back"), null=True, blank=True)
    last_release_reason = models.CharField(_("why it was taken back"), max_length=16, blank=True)
    last_release_at = models.DateTimeField(_("when it was taken back"), null=True, blank=True)

    objects = PersonQuerySet.as_manager()

    # Not columns: set by the engine's reads. Whether the session is live (`people_lock`,
    # `with_liveness`), the database's clock when the row was locked (`people_lock`), and
    # the task in progress (`person_get`).
    is_live: bool
    db_now: datetime
    current_task: "Task | None"

    class Meta:
        db_table = "qc_personnel"
        verbose_name = _("QC person")
        verbose_name_plural = _("QC personnel")
        ordering = ["name", "id"]
        permissions = [
            ("manage_login", "Can set passwords, deactivate logins and revoke API tokens"),
        ]
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


class ApiTokenQuerySet(models.QuerySet):
    def live(self):
        """Not expired (on the database's clock); a password change since issue is not
        looked at here (`personnel.tokens` refuses those)."""
        return self.filter(expires_at__gt=Now())


class ApiToken(models.Model):
    """An API token (`Authorization: Token <token>`), stored as the SHA-256 digest of the
    token only: the token itself is shown once, when issued, and a copy of this table
    (a backup) grants nothing.

    A token ends at `expires_at`, which use pushes out (`personnel.tokens`); when the user's
    password hash changes, however it changed (`password_stamp` no longer matches); when
    the user is inactive; and when it is revoked (the row is deleted). Created and deleted
    only through `personnel.services`.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("login"),
    )
    # Hex SHA-256 of the token; the unique index is what every API request looks up.
    digest = models.CharField(max_length=64, unique=True)
    # The token's first characters, so that a person and a supervisor can tell tokens apart
    # in a list; far too few to guess the rest from.
    prefix = models.CharField(max_length=8)
    # SHA-256 of the user's password hash when the token was issued (`personnel.tokens`).
    password_stamp = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("issued"), db_default=Now())
    # When use last pushed the expiry out: within QC_IDLE_REFRESH_INTERVAL of the last use.
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"))

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        db_table = "qc_api_tokens"
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        indexes = [
            # A person's tokens, for the supervisor's list and for revoking them all.
            models.Index(fields=["user", "expires_at"], name="qc_api_tokens_user"),
        ]

    def __str__(self):
        return f"{self.prefix}…"

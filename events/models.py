"""Events (the outbox) and their webhooks: endpoints and deliveries.

This app knows no other app's models: an event stores the ids of the task and person it is
about, its type and a JSON body. The engine writes events in the transaction of each change
(`events.services`); the delivery worker (`manage.py run_webhooks`) sequences them, fans
them out to the endpoints and posts them (docs/events.md).
"""

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    TASK_CREATED = "task.created", _("Task created")
    TASK_ASSIGNED = "task.assigned", _("Task assigned")
    TASK_RELEASED = "task.released", _("Task released (back in the queue)")
    TASK_DECLINED = "task.declined", _("Task declined")
    TASK_TIMED_OUT = "task.timed_out", _("Task timed out")
    TASK_EXPIRED = "task.expired", _("Task expired")
    TASK_REVIEWED = "task.reviewed", _("Task reviewed, more reviews to come")
    TASK_COMPLETED = "task.completed", _("Task completed")
    TASK_DISPUTED = "task.disputed", _("Task verdict disputed")
    TASK_RESOLVED = "task.resolved", _("Task dispute resolved")
    TASK_CANCELLED = "task.cancelled", _("Task cancelled")
    PERSON_SIGNED_IN = "person.signed_in", _("Person signed in")
    PERSON_SIGNED_OUT = "person.signed_out", _("Person signed out")


class Event(models.Model):
    """One change, written in the transaction of the change (an outbox row).

    `id` is allotted when the row is inserted, which is not the order in which concurrent
    transactions commit; `seq` is given by the sequencer to committed events only, in an
    order no later commit can step behind (`events.services.events_sequence`). Consumers
    see only sequenced events, and `seq` is their id.
    """

    seq = models.BigIntegerField(_("id"), null=True, blank=True, unique=True, editable=False)
    type = models.CharField(_("type"), max_length=32, choices=EventType.choices)
    # The database's clock at the change.
    occurred_at = models.DateTimeField(_("occurred"), db_default=Now())
    task_id = models.BigIntegerField(_("task"), null=True, blank=True)
    person_id = models.BigIntegerField(_("person"), null=True, blank=True)
    # NULL as in the task: it has none (an empty string is not "none" there).
    external_id = models.CharField(  # noqa: DJ001
        _("external id"), max_length=255, null=True, blank=True
    )
    # What else the event carries (the path of an assignment, the reason of a release…);
    # NULL when nothing (most events: a shorter row).
    data = models.JSONField(_("data"), null=True, blank=True)

    class Meta:
        db_table = "qc_events"
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["seq", "id"]
        permissions = [("read_events", "Can read events (GET /events)")]
        # No index but the two: every change inserts here, and an index on the task costs a
        # batch a third more (docs/benchmarks.md); the admin's search by task scans.

    def __str__(self):
        return f"{self.seq or '(unsequenced)'} {self.type}"

    @property
    def order_key(self) -> int | None:
        """What a delivery keeps in order with: the task, or for an event without a task,
        the person (negated, so the two never collide)."""
        if self.task_id is not None:
            return self.task_id
        if self.person_id is not None:
            return -self.person_id
        return None


class EventSequence(models.Model):
    """A single row: the last sequence number given out. The sequencer locks it, so
    sequence numbers are given by one transaction at a time, each committing before the next
    begins."""

    last_seq = models.BigIntegerField(default=0)

    class Meta:
        db_table = "qc_event_sequence"

    def __str__(self):
        return f"last sequence number {self.last_seq}"


class WebhookEndpoint(models.Model):
    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # The event types it receives; empty: every type.
    event_types = models.JSONField(_("event types"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Standard Webhooks format: "whsec_" + base64 of the key.
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    created_at = models.DateTimeField(_("created"), db_default=Now())
    # The last event (seq) fanned out to this endpoint: a new endpoint starts at the events
    # of its creation; a disabled one catches up from here when enabled again.
    cursor = models.BigIntegerField(default=0, editable=False)
    # Health: since when every attempt has failed (None while the last attempt succeeded).
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True, editable=False)
    last_error = models.CharField(_("last error"), max_length=255, blank=True, editable=False)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True, editable=False)
    disabled_reason = models.CharField(
        _("why disabled"), max_length=255, blank=True, editable=False
    )

    class Meta:
        db_table = "qc_webhook_endpoints"
        ordering = ["id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self):
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class Delivery(models.Model):
    """One event for one endpoint, posted until it is answered with a 2xx, or until its
    retries run out (QC_WEBHOOK_RETRY_HOURS from the first attempt)."""

    # Indexed by the unique constraint (endpoint first).
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        verbose_name=_("endpoint"),
    )
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event")
    )
    seq = models.BigIntegerField()  # the event's
    # The event's `order_key`: deliveries with the same key go out one at a time, in seq
    # order. NULL (an event about neither a task nor a person) waits for nothing.
    order_key = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created"), db_default=Now())
    first_attempt_at = models.DateTimeField(_("first attempt"), null=True, blank=True)
    # When the delivery may be tried next; while a worker holds it, the end of its lease.
    next_attempt_at = models.DateTimeField(_("next attempt"), db_default=Now())
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    # The worker's claim: its outcome is recorded only while the claim is still this one.
    lease = models.CharField(max_length=32, blank=True, editable=False)
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)

    class Meta:
        db_table = "qc_webhook_deliveries"
        ordering = ["-id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        permissions = [("resend_delivery", "Can send a webhook delivery again")]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="qc_deliveries_once"),
        ]
        indexes = [
            # The workers' claim: pending deliveries that are due.
            models.Index(fields=["status", "next_attempt_at"], name="qc_deliveries_due"),
            # "Is an earlier delivery of this task to this endpoint still pending?", and an
            # endpoint's pending deliveries (admin, dashboard).
            models.Index(
                fields=["endpoint", "status", "order_key", "seq"], name="qc_deliveries_order"
            ),
        ]

    def __str__(self):
        return f"event {self.seq} → {self.endpoint_id}"

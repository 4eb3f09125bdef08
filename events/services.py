"""Events and webhooks: every state change of this app.

Writing events (`event_emit`, `events_emit_for_tasks`, `events_emit_for_people`) happens
inside the caller's transaction, the transaction of the change, so an event exists exactly
when its change committed. Everything else here is its own short transaction, run by the
delivery worker (`events.worker`), the API, the admin and the commands.

Lock order inside this app: the sequence row, then webhook endpoint rows (in id order), then
delivery rows. Event rows are locked by nobody but the sequencer (and the pruner, on old
sequenced rows the sequencer never touches again). No transaction here does I/O.

Why a sequencer (docs/events.md, "Never lost"): an auto-increment id is allotted when a row
is inserted, not when its transaction commits, so a reader paging by id can pass over an id
whose transaction commits a moment later, and never see that event. Consumers page by `seq`
instead, given to committed events only, by one transaction at a time.
"""

import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Value
from django.db.models.functions import Coalesce, Now

from qcproject import rawsql
from qcproject.db import db_now, retry_transaction
from qcproject.exceptions import DomainError

from . import signing, sql
from .models import Delivery, DeliveryStatus, Event, EventSequence, EventType, WebhookEndpoint

logger = logging.getLogger(__name__)

_TYPES = frozenset(EventType.values)

# --- writing events, in the transaction of the change -------------------------------------------


def _data_json(data: dict | None) -> str | None:
    return json.dumps(data, separators=(",", ":"), sort_keys=True) if data else None


def _check(type: str) -> None:
    if type not in _TYPES:
        raise ValueError(f"unknown event type {type!r}")
    if not rawsql.db().in_atomic_block:
        # An event belongs to the transaction of its change; outside one it would commit on
        # its own, and a change that then failed would leave an event behind.
        raise RuntimeError("events are written inside the transaction of their change")


def event_emit(
    type: str,
    *,
    task_id: int | None = None,
    person_id: int | None = None,
    external_id: str | None = None,
    data: dict | None = None,
) -> None:
    """Record one event of the change the current transaction makes (one INSERT).

    An event about a task is written while the task's row is locked (or was inserted by
    this transaction), an event about a person only while the person's row is locked:
    that is what keeps each task's events, and each person's, in the order they happened.
    """
    _check(type)
    sql.events_insert(type, [(task_id, person_id, external_id)], _data_json(data))


def events_emit_for_tasks(type: str, rows, *, data: dict | None = None) -> None:
    """Record the same event for many tasks, in one INSERT: `rows` are (task id, person id
    or None, external id or None), all locked by the caller; `data` is shared by all."""
    _check(type)
    if rows:
        sql.events_insert(type, rows, _data_json(data))


def events_emit_each(events) -> None:
    """Record several events of the current transaction's change, each with its own type
    and body, in one INSERT: `events` are (type, task id, person id, external id, data or
    None), each task and person locked by the caller (as `event_emit`'s)."""
    rows = []
    bodies: dict[int, str | None] = {}  # a body shared by many events is encoded once
    for type, task_id, person_id, external_id, data in events:
        _check(type)
        body = bodies.get(id(data))
        if body is None:
            body = bodies[id(data)] = _data_json(data)
        rows.append((type, task_id, person_id, external_id, body))
    if rows:
        sql.events_insert_each(rows)


def events_emit_for_people(type: str, person_ids, *, data: dict | None = None) -> None:
    """Record the same event for many people (rows the caller has locked), in one INSERT."""
    _check(type)
    if person_ids:
        sql.events_insert(
            type, [(None, person_id, None) for person_id in person_ids], _data_json(data)
        )


# --- the sequencer -------------------------------------------------------------------------------

SEQUENCE_BATCH = 5000


def _sequence_row_ensure() -> None:
    """The sequence row exists (a migration makes it; a database emptied since gets it
    back, carrying on after the highest sequence number given)."""
    if not EventSequence.objects.filter(pk=1).exists():
        highest = Event.objects.aggregate(m=Max("seq"))["m"] or 0
        EventSequence.objects.get_or_create(pk=1, defaults={"last_seq": highest})


@retry_transaction
def _sequence_batch(limit: int) -> int | None:
    """Give sequence numbers to up to `limit` committed events that have none, in id order.
    None when another sequencer holds the row (it is passed over, not waited for)."""
    with transaction.atomic():
        # One sequencer at a time: the numbers of each batch are given, and committed,
        # before the next batch can read what is unsequenced.
        last = (
            EventSequence.objects.select_for_update(skip_locked=True)
            .filter(pk=1)
            .values_list("last_seq", flat=True)
            .first()
        )
        if last is None:
            return None
        # A plain read sees committed rows only: an event whose transaction has not
        # committed yet is not here, and gets a higher number once it has. Events of one
        # task were inserted in the order their transactions held the task's lock, so id
        # order is their order.
        ids = list(
            Event.objects.filter(seq__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return 0
        # seq = id + offset: one UPDATE by key; every number is above the last one given.
        offset = last + 1 - ids[0]
        Event.objects.filter(pk__in=ids).update(seq=F("id") + offset)
        EventSequence.objects.filter(pk=1).update(last_seq=ids[-1] + offset)
        return len(ids)


def events_sequence(*, limit: int | None = None) -> int:
    """Sequence every committed event that has no sequence number yet (in batches of
    SEQUENCE_BATCH, up to `limit`). Run by each delivery worker's loop and before each read
    of `GET /events`. Returns how many were sequenced; 0 also when another sequencer was at
    work (what it sequences is visible once it commits)."""
    done = 0
    while limit is None or done < limit:
        size = SEQUENCE_BATCH if limit is None else min(SEQUENCE_BATCH, limit - done)
        n = _sequence_batch(size)
        if n is None:
            _sequence_row_ensure()
            n = _sequence_batch(size)
        if not n:
            break
        done += n
        if n < size:
            break
    return done


def events_last_seq() -> int:
    """The highest sequence number given so far."""
    return EventSequence.objects.filter(pk=1).values_list("last_seq", flat=True).first() or 0


# --- webhook endpoints ---------------------------------------------------------------------------


def _endpoint_problems(url: str, event_types: list[str]) -> dict[str, str]:
    problems = {}
    problem = signing.url_problem(url)
    if problem:
        problems["url"] = problem
    unknown = sorted(set(event_types) - _TYPES)
    if unknown:
        problems["event_types"] = f"Unknown event types: {', '.join(unknown)}."
    return problems


def endpoint_validate(*, url: str, event_types: list[str]) -> dict[str, str]:
    """What is wrong with an endpoint's URL and event types, by field (empty when fine)."""
    return _endpoint_problems(url, event_types)


def endpoint_create(
    *, url: str, event_types: list[str] | None = None, description: str = "", is_active=True
) -> WebhookEndpoint:
    """A new endpoint with a new secret. It receives the events from now on (those not yet
    sequenced included). Raises DomainError for an unsafe URL or an unknown event type."""
    event_types = sorted(set(event_types or []))
    problems = _endpoint_problems(url, event_types)
    if problems:
        raise DomainError(" ".join(problems.values()))
    events_sequence()
    return WebhookEndpoint.objects.create(
        url=url,
        description=description,
        event_types=event_types,
        is_active=is_active,
        secret=signing.secret_generate(),
        cursor=events_last_seq(),
    )


@retry_transaction
def endpoint_update(
    *,
    endpoint_id: int,
    url: str,
    event_types: list[str],
    description: str,
    is_active: bool,
) -> WebhookEndpoint:
    """Change an endpoint. Activating one that was disabled starts its deliveries that wait
    afresh: each gets a new retry window from its next attempt. Raises DomainError."""
    event_types = sorted(set(event_types))
    problems = _endpoint_problems(url, event_types)
    if problems:
        raise DomainError(" ".join(problems.values()))
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        enabling = is_active and not endpoint.is_active
        endpoint.url, endpoint.event_types = url, event_types
        endpoint.description, endpoint.is_active = description, is_active
        if enabling:
            endpoint.disabled_at, endpoint.disabled_reason = None, ""
            endpoint.failing_since = None
            Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
                first_attempt_at=None, next_attempt_at=Now()
            )
        endpoint.save()
    return endpoint


def endpoints_enable(*, endpoint_ids: list[int]) -> int:
    """Activate these endpoints (see `endpoint_update`). Returns how many were inactive."""
    enabled = 0
    for endpoint in WebhookEndpoint.objects.filter(pk__in=endpoint_ids, is_active=False):
        endpoint_update(
            endpoint_id=endpoint.pk,
            url=endpoint.url,
            event_types=endpoint.event_types,
            description=endpoint.description,
            is_active=True,
        )
        enabled += 1
    return enabled


def endpoint_secret_rotate(*, endpoint_id: int) -> str:
    """Give the endpoint a new secret (the old one stops working at once). Returns it."""
    secret = signing.secret_generate()
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(secret=secret)
    return secret


# --- fan-out: deliveries for each active endpoint ------------------------------------------------

FAN_OUT_BATCH = 5000


@retry_transaction
def _fan_out(endpoint_id: int, upto: int) -> tuple[int, bool]:
    """Up to FAN_OUT_BATCH deliveries to one endpoint; (how many, whether it is done)."""
    with transaction.atomic():
        # One worker fans out to an endpoint at a time; another is passed over.
        endpoint = (
            WebhookEndpoint.objects.select_for_update(skip_locked=True)
            .filter(pk=endpoint_id, is_active=True)
            .first()
        )
        if endpoint is None or endpoint.cursor >= upto:
            return 0, True
        # One INSERT … SELECT (events/sql.py): no row passes through Python.
        made, last = sql.deliveries_make(
            endpoint_id=endpoint.pk,
            after=endpoint.cursor,
            upto=upto,
            types=endpoint.event_types,
            limit=FAN_OUT_BATCH,
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(cursor=last)
        return made, last >= upto


def deliveries_fan_out() -> int:
    """Make the deliveries of every sequenced event to every active endpoint that wants it,
    in seq order, each endpoint from where it stopped. Returns how many were made."""
    upto = events_last_seq()
    made = 0
    endpoints = WebhookEndpoint.objects.filter(is_active=True, cursor__lt=upto)
    for endpoint_id in endpoints.values_list("id", flat=True):
        done = False
        while not done:
            n, done = _fan_out(endpoint_id, upto)
            made += n
    return made


# --- claiming, and recording what the receivers answered ------------------------------------------


@dataclass
class Outgoing:
    """One request to make: the delivery, where to, and what."""

    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    msg_id: str
    body: str


@dataclass
class Claim:
    lease: str
    seconds: float
    outgoing: list[Outgoing] = field(default_factory=list)


def _head_of_line():
    """No earlier delivery of the same task (or person) to the same endpoint is pending."""
    earlier = Delivery.objects.filter(
        endpoint=OuterRef("endpoint"),
        order_key=OuterRef("order_key"),
        status=DeliveryStatus.PENDING,
        seq__lt=OuterRef("seq"),
    )
    return ~Exists(earlier)


@retry_transaction
def deliveries_claim(*, limit: int, lease_seconds: float) -> Claim:
    """Claim up to `limit` deliveries that are due, each the first pending one of its task
    (or person) for its endpoint, for `lease_seconds`: until then no other worker takes
    them, and after it (a worker that died) any worker does.

    The look for candidates is a plain read; the lock (SKIP LOCKED) re-checks each is still
    due, so two workers never claim the same delivery. Returns the claim with the requests
    to make."""
    from .selectors import payload_json

    lease = uuid.uuid4().hex
    claim = Claim(lease=lease, seconds=lease_seconds)
    targets = {
        pk: (url, secret)
        for pk, url, secret in WebhookEndpoint.objects.filter(is_active=True).values_list(
            "id", "url", "secret"
        )
    }
    active = list(targets)
    if not active:
        return claim
    with transaction.atomic():
        candidates = list(
            Delivery.objects.filter(
                status=DeliveryStatus.PENDING, next_attempt_at__lte=Now(), endpoint_id__in=active
            )
            .filter(_head_of_line())
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:limit]
        )
        if not candidates:
            return claim
        locked = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=candidates, status=DeliveryStatus.PENDING, next_attempt_at__lte=Now())
            .values_list("id", flat=True)
        )
        if not locked:
            return claim
        Delivery.objects.filter(pk__in=locked).update(
            lease=lease, next_attempt_at=Now() + Value(timedelta(seconds=lease_seconds))
        )
    rows = (
        Delivery.objects.filter(pk__in=locked, lease=lease)
        .order_by("seq")
        .values_list(
            "id",
            "endpoint_id",
            "seq",
            "event__type",
            "event__occurred_at",
            "event__task_id",
            "event__person_id",
            "event__external_id",
            "event__data",
        )
    )
    for delivery_id, endpoint_id, seq, *event in rows:
        url, secret = targets[endpoint_id]
        claim.outgoing.append(
            Outgoing(
                delivery_id=delivery_id,
                endpoint_id=endpoint_id,
                url=url,
                secret=secret,
                msg_id=f"evt_{seq}",
                body=payload_json(seq, *event),
            )
        )
    return claim


@dataclass
class Answer:
    """What came of one request: `status` (the HTTP status, None when none came back),
    the start of the response body, or the error (timeout, refused, …); `sent` False when
    the request was not made (the worker stopped, or its lease ran short)."""

    delivery_id: int
    endpoint_id: int
    status: int | None = None
    body: str = ""
    error: str = ""
    sent: bool = True

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# Backoff: the n-th retry waits BASE * 2**(n-1) seconds (at most MAX_DELAY), times a random
# factor in [0.5, 1): many deliveries failing together do not all come back together.
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_DELAY = 3600.0
# Stored from a response: enough to see what the receiver said.
STORED_BODY = 1024


def retry_delay(attempts: int) -> float:
    """Seconds to wait before the next attempt, after `attempts` failed ones."""
    delay = min(RETRY_MAX_DELAY, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)


@dataclass
class Recorded:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    stale: int = 0  # answers for deliveries this worker no longer held
    disabled: list[int] = field(default_factory=list)


@retry_transaction
def deliveries_record(*, lease: str, answers: list[Answer]) -> Recorded:
    """Record the answers of one claim, for the deliveries still held under `lease` (a
    delivery whose lease ran out may be another worker's by now: its answer is dropped).

    Delivered on a 2xx. Otherwise retried after a backoff until QC_WEBHOOK_RETRY_HOURS
    after its first attempt, then failed. An endpoint none of whose attempts has succeeded
    for that long is disabled when one of its deliveries fails for good. Requests not made
    are due again at once.
    """
    result = Recorded()
    if not answers:
        return result
    window = timedelta(hours=settings.QC_WEBHOOK_RETRY_HOURS)
    with transaction.atomic():
        endpoint_ids = sorted({a.endpoint_id for a in answers})
        endpoints = {
            e.pk: e
            for e in WebhookEndpoint.objects.select_for_update()
            .filter(pk__in=endpoint_ids)
            .order_by("pk")
        }
        held = {
            d.pk: d
            for d in Delivery.objects.select_for_update()
            .filter(
                pk__in=[a.delivery_id for a in answers], lease=lease, status=DeliveryStatus.PENDING
            )
            .only("id", "attempts", "first_attempt_at", "endpoint_id")
        }
        now = db_now()
        delivered: dict[int, list[int]] = {}
        released: list[int] = []
        failed_now: list[Delivery] = []
        health: dict[int, dict] = {}
        for answer in answers:
            d = held.get(answer.delivery_id)
            if d is None:
                result.stale += 1
                continue
            if not answer.sent:
                released.append(d.pk)
                continue
            h = health.setdefault(answer.endpoint_id, {"ok": 0, "error": "", "final": 0})
            if answer.ok and answer.status is not None:
                delivered.setdefault(answer.status, []).append(d.pk)
                h["ok"] += 1
                continue
            d.attempts += 1
            d.first_attempt_at = d.first_attempt_at or now
            d.last_attempt_at = now
            d.response_code = answer.status
            d.response_body = answer.body[:STORED_BODY]
            d.error = (answer.error or f"HTTP {answer.status}")[:255]
            d.lease = ""
            h["error"] = d.error
            if now >= d.first_attempt_at + window:
                d.status = DeliveryStatus.FAILED
                d.next_attempt_at = now
                h["final"] += 1
                result.failed += 1
            else:
                d.status = DeliveryStatus.PENDING
                d.next_attempt_at = min(
                    now + timedelta(seconds=retry_delay(d.attempts)), d.first_attempt_at + window
                )
                result.retrying += 1
            failed_now.append(d)
        for status, ids in delivered.items():
            Delivery.objects.filter(pk__in=ids).update(
                status=DeliveryStatus.DELIVERED,
                attempts=F("attempts") + 1,
                first_attempt_at=Coalesce(F("first_attempt_at"), Value(now)),
                last_attempt_at=now,
                delivered_at=now,
                response_code=status,
                response_body="",
                error="",
                lease="",
            )
            result.delivered += len(ids)
        if failed_now:
            Delivery.objects.bulk_update(
                failed_now,
                [
                    "status",
                    "attempts",
                    "first_attempt_at",
                    "last_attempt_at",
                    "next_attempt_at",
                    "response_code",
                    "response_body",
                    "error",
                    "lease",
                ],
            )
        if released:
            Delivery.objects.filter(pk__in=released).update(lease="", next_attempt_at=Now())
            result.released = len(released)
        for endpoint_id, h in health.items():
            endpoint = endpoints.get(endpoint_id)
            if endpoint is None:
                continue
            changes: dict = {}
            if h["ok"]:
                changes.update(failing_since=None, last_success_at=now)
            if h["error"]:
                changes.update(last_failure_at=now, last_error=h["error"])
                if not h["ok"]:
                    changes["failing_since"] = endpoint.failing_since or now
            since = changes.get("failing_since", endpoint.failing_since)
            if h["final"] and since is not None and since <= now - window and endpoint.is_active:
                changes.update(
                    is_active=False,
                    disabled_at=now,
                    disabled_reason=(
                        f"Every attempt failed for {settings.QC_WEBHOOK_RETRY_HOURS:g} hours "
                        f"(last: {h['error']})"
                    )[:255],
                )
                result.disabled.append(endpoint_id)
            WebhookEndpoint.objects.filter(pk=endpoint_id).update(**changes)
    for endpoint_id in result.disabled:
        logger.warning("webhook endpoint %s disabled after repeated failures", endpoint_id)
    return result


def deliveries_resend(*, delivery_ids: list[int]) -> int:
    """Send these deliveries again (delivered or failed ones; pending ones are on their
    way): due at once, with a new retry window. A resend goes out with the same
    `webhook-id`, whatever came after it for the same task. Returns how many."""
    return (
        Delivery.objects.filter(pk__in=delivery_ids)
        .exclude(status=DeliveryStatus.PENDING)
        .update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=Now(),
            first_attempt_at=None,
            delivered_at=None,
            lease="",
        )
    )


# --- retention -----------------------------------------------------------------------------------

PRUNE_BATCH = 2000


def events_prune(*, days: int | None = None) -> int:
    """Delete events older than `days` (default QC_EVENT_RETENTION_DAYS) that every active
    endpoint has been given and none still waits to receive, with their deliveries, in
    batches of PRUNE_BATCH (short transactions). Returns how many events were deleted.

    An endpoint disabled for longer than that misses the events pruned meanwhile; a consumer
    of `GET /events` further behind than that finds the oldest ones gone.
    """
    days = settings.QC_EVENT_RETENTION_DAYS if days is None else days
    cutoff = db_now() - timedelta(days=days)
    # Not past an active endpoint's cursor: those events are still to be fanned out to it.
    active = WebhookEndpoint.objects.filter(is_active=True).order_by("cursor")
    floor = active.values_list("cursor", flat=True).first()
    if floor is None:
        floor = events_last_seq()
    waiting = Delivery.objects.filter(
        event=OuterRef("pk"), status=DeliveryStatus.PENDING, endpoint__is_active=True
    )
    deleted = 0
    after = 0
    while True:
        with transaction.atomic():
            rows = list(
                Event.objects.filter(seq__gt=after, seq__lte=floor)
                .order_by("seq")
                .values_list("id", "seq", "occurred_at")[:PRUNE_BATCH]
            )
            old = [(i, s) for i, s, at in rows if at < cutoff]
            if not old:
                break
            ids = list(
                Event.objects.filter(pk__in=[i for i, _ in old])
                .filter(~Exists(waiting))
                .values_list("id", flat=True)
            )
            Delivery.objects.filter(event_id__in=ids).delete()
            Event.objects.filter(pk__in=ids).delete()
            deleted += len(ids)
            after = old[-1][1] or after
            if len(old) < len(rows) or len(rows) < PRUNE_BATCH:
                break
    return deleted

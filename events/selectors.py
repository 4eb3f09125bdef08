"""Reads of events and webhooks: the published form of an event (the same in `GET /events`
and in a webhook's body), pages of events, and the webhooks' health for the dashboard."""

import json
from datetime import UTC

from django.db.models import Count, Min, Q

from .models import Delivery, DeliveryStatus, Event, WebhookEndpoint


def _timestamp(value) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _data(type_, task_id, person_id, external_id, data) -> dict:
    body: dict[str, object]
    if type_.startswith("person."):
        body = {"person_id": person_id}
    else:
        body = {"task_id": task_id, "external_id": external_id, "person_id": person_id}
    body.update(data or {})
    return body


def event_data(event: Event) -> dict:
    """The body of an event: the task's id and `external_id` and the person's id (a person
    event: the person's id only), and what else the event carries."""
    return _data(event.type, event.task_id, event.person_id, event.external_id, event.data)


def payload(seq, type_, occurred_at, task_id, person_id, external_id, data) -> dict:
    """An event as published (the Standard Webhooks payload: type, timestamp, data; with
    its id, the sequence number), from its columns."""
    return {
        "id": seq,
        "type": type_,
        "timestamp": _timestamp(occurred_at),
        "data": _data(type_, task_id, person_id, external_id, data),
    }


def event_payload(event: Event) -> dict:
    return payload(
        event.seq,
        event.type,
        event.occurred_at,
        event.task_id,
        event.person_id,
        event.external_id,
        event.data,
    )


def payload_json(*columns) -> str:
    return json.dumps(payload(*columns), separators=(",", ":"))


def events_after(*, after: int, types: list[str] | None, limit: int) -> list[Event]:
    """Up to `limit` published (sequenced) events with an id above `after`, oldest first,
    of `types` if given: a range on the unique index of `seq`."""
    events = Event.objects.filter(seq__gt=after)
    if types:
        events = events.filter(type__in=types)
    return list(events.order_by("seq")[:limit])


def webhooks_health() -> list[dict]:
    """Endpoints a supervisor should look at: disabled by the worker after repeated
    failures, or failing now, each with its deliveries still waiting and the oldest of
    them. Healthy endpoints are left out."""
    troubled = WebhookEndpoint.objects.filter(
        Q(disabled_at__isnull=False) | Q(failing_since__isnull=False)
    ).order_by("id")
    rows = []
    for endpoint in troubled[:20]:
        waiting = Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING)
        figures = waiting.aggregate(n=Count("id"), oldest=Min("created_at"))
        rows.append(
            {
                "endpoint": endpoint,
                "disabled": endpoint.disabled_at is not None and not endpoint.is_active,
                "waiting": figures["n"],
                "oldest_waiting": figures["oldest"],
            }
        )
    return rows

"""Reads of events and webhooks: the published form of an event (the same in `GET /events`
and in a webhook's body), pages of events, and the webhooks' health for the dashboard."""

import json
from datetime import UTC

from django.db.models import Count, Min, Q

from .models import Delivery, DeliveryStatus, Event, WebhookEndpoint


def _timestamp(value) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_data(event: Event) -> dict:
    """The body of an event: the task's id and `external_id` and the person's id (a person
    event: the person's id only), and what else the event carries."""
    body: dict[str, object]
    if event.type.startswith("person."):
        body = {"person_id": event.person_id}
    else:
        body = {
            "task_id": event.task_id,
            "external_id": event.external_id,
            "person_id": event.person_id,
        }
    body.update(event.data or {})
    return body


def event_payload(event: Event) -> dict:
    """An event as published (the Standard Webhooks payload: type, timestamp, data; with
    its id, the sequence number)."""
    return {
        "id": event.seq,
        "type": event.type,
        "timestamp": _timestamp(event.occurred_at),
        "data": event_data(event),
    }


def event_payload_json(event: Event) -> str:
    return json.dumps(event_payload(event), separators=(",", ":"))


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

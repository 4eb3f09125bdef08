"""Retention: delivered events older than QC_EVENT_RETENTION_DAYS go, with their deliveries;
events some active endpoint still waits for stay."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models.functions import Now

from events import services
from events.models import Delivery, DeliveryStatus, Event
from tasks.services import task_create

pytestmark = pytest.mark.django_db


def age(days: float, **filters) -> None:
    Event.objects.filter(**filters).update(occurred_at=Now() - timedelta(days=days))


def test_old_events_are_pruned_and_recent_ones_kept():
    task_create(descriptions=["old", "old too", "new"])
    services.events_sequence()
    old = list(Event.objects.order_by("seq").values_list("id", flat=True)[:2])
    age(31, pk__in=old)
    assert services.events_prune() == 2
    assert list(Event.objects.values_list("id", flat=True)) != old
    assert Event.objects.count() == 1


def test_events_a_webhook_still_waits_for_are_kept():
    services.endpoint_create(url="https://mes.example.com/")
    task_create(descriptions=["a", "b"])
    services.events_sequence()
    services.deliveries_fan_out()
    first, second = Delivery.objects.order_by("seq")
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.DELIVERED)
    age(40)
    assert services.events_prune() == 1
    assert list(Event.objects.values_list("id", flat=True)) == [second.event_id]
    assert list(Delivery.objects.values_list("id", flat=True)) == [second.pk]


def test_events_not_yet_fanned_out_to_an_active_endpoint_are_kept():
    task_create(descriptions=["a"])
    services.events_sequence()
    services.endpoint_create(url="https://mes.example.com/")  # starts after the event
    task_create(descriptions=["b"])
    services.events_sequence()  # not fanned out yet
    age(40)
    assert services.events_prune() == 1
    assert Event.objects.count() == 1


def test_unsequenced_events_are_never_pruned():
    task_create(descriptions=["a"])
    age(400)
    assert services.events_prune() == 0


def test_manage_py_prune_prunes_events_past_the_retention(capsys, settings):
    settings.QC_EVENT_RETENTION_DAYS = 2
    task_create(descriptions=["a", "b"])
    services.events_sequence()
    age(3, pk=Event.objects.order_by("id")[0].pk)
    call_command("prune", "events")
    assert "events: deleted 1 rows" in capsys.readouterr().out
    assert Event.objects.count() == 1

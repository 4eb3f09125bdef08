"""The supervisors' pages: events, webhook endpoints (secret, URL rule, enable), deliveries
(resend), and the dashboard's webhook block."""

import pytest
from django.utils import timezone

from events import services
from events.models import Delivery, DeliveryStatus, WebhookEndpoint
from tasks.services import task_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client, supervisor):
    client.force_login(supervisor)
    return client


def test_a_supervisor_sees_the_events(boss):
    task_create(descriptions=["x"])
    response = boss.get("/admin/events/event/")
    assert response.status_code == 200
    assert b"task.created" in response.content
    assert boss.get("/admin/events/event/?q=1").status_code == 200
    assert boss.get("/admin/events/event/?q=LOT").status_code == 200


def test_an_endpoint_added_in_the_admin_gets_a_secret_shown_to_supervisors(boss):
    response = boss.post(
        "/admin/events/webhookendpoint/add/",
        {
            "url": "https://mes.example.com/qc",
            "description": "MES",
            "event_types": ["task.completed"],
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret.encode() in response.content  # the message after adding
    assert endpoint.event_types == ["task.completed"]
    page = boss.get(f"/admin/events/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint.secret.encode() in page.content


def test_the_admin_refuses_an_unsafe_url(boss):
    response = boss.post(
        "/admin/events/webhookendpoint/add/",
        {"url": "http://mes.example.com/qc", "is_active": "on"},
    )
    assert response.status_code == 200
    assert b"Only https:// URLs are allowed" in response.content
    assert not WebhookEndpoint.objects.exists()


def test_changing_an_endpoint_goes_through_the_service(boss):
    endpoint = services.endpoint_create(url="https://a.example.com/")
    response = boss.post(
        f"/admin/events/webhookendpoint/{endpoint.pk}/change/",
        {"url": "https://b.example.com/", "description": "", "event_types": [], "is_active": "on"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://b.example.com/"


def test_enable_and_rotate_actions(boss):
    endpoint = services.endpoint_create(url="https://a.example.com/", is_active=False)
    old = endpoint.secret
    boss.post(
        "/admin/events/webhookendpoint/",
        {"action": "enable", "_selected_action": [endpoint.pk]},
    )
    boss.post(
        "/admin/events/webhookendpoint/",
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.secret != old


def test_deliveries_are_listed_and_can_be_sent_again(boss):
    endpoint = services.endpoint_create(url="https://a.example.com/")
    task_create(descriptions=["x"])
    services.events_sequence()
    services.deliveries_fan_out()
    delivery = Delivery.objects.get()
    Delivery.objects.update(status=DeliveryStatus.FAILED, response_code=500, attempts=7)
    page = boss.get("/admin/events/delivery/")
    assert page.status_code == 200 and b"500" in page.content
    assert boss.get(f"/admin/events/delivery/?q={delivery.seq}").status_code == 200
    assert boss.get(f"/admin/events/delivery/{delivery.pk}/change/").status_code == 200
    boss.post("/admin/events/delivery/", {"action": "resend", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert endpoint.pk == delivery.endpoint_id


def test_the_dashboard_shows_a_disabled_endpoint(boss):
    endpoint = services.endpoint_create(url="https://down.example.com/hook")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason="Every attempt failed"
    )
    page = boss.get("/admin/tasks/task/dashboard/")
    assert page.status_code == 200
    assert b"https://down.example.com/hook" in page.content
    assert b"Every attempt failed" in page.content


def test_the_dashboard_has_no_webhook_block_when_all_is_well(boss):
    services.endpoint_create(url="https://fine.example.com/hook")
    assert b"qc-webhooks" not in boss.get("/admin/tasks/task/dashboard/").content


def test_qc_people_cannot_reach_the_webhook_pages(client, alice):
    client.force_login(alice.user)
    for path in (
        "/admin/events/event/",
        "/admin/events/webhookendpoint/",
        "/admin/events/delivery/",
    ):
        assert client.get(path).status_code == 302

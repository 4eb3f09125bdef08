"""Webhook delivery against a real HTTP receiver on 127.0.0.1 that verifies every request's
signature with the `standardwebhooks` library (events.testing.Receiver)."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models.functions import Now

from events import services
from events.models import Delivery, DeliveryStatus, Event, EventType, WebhookEndpoint
from events.selectors import event_payload, webhooks_health
from events.sender import Sender
from events.signing import secret_generate
from events.testing import Receiver
from events.worker import webhooks_cycle
from qcproject.exceptions import DomainError
from tasks.services import task_complete, task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    settings.QC_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def endpoint(receiver):
    ep = services.endpoint_create(url=receiver.url)
    receiver.secret = ep.secret
    return ep


@pytest.fixture
def sender():
    s = Sender(timeout=3)
    yield s
    s.close()


def run(sender, *, cycles: int = 10):
    """Worker cycles until one finds nothing to do."""
    for _ in range(cycles):
        if not webhooks_cycle(sender=sender):
            return


def due_now():
    Delivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=Now())


def fail_first(n: int, status: int = 500, *, when=lambda payload: True):
    """An answer: `status` for the first `n` attempts of each matching event, then 204."""

    def answer(payload, attempt):
        if when(payload) and attempt <= n:
            return status, "try later", {}
        return 204, "", {}

    return answer


def test_each_event_is_posted_signed_with_the_standard_webhooks_headers(
    receiver, endpoint, sender, alice
):
    task_create(descriptions=["inspect lot 7"])
    person_login(person_id=alice.pk)
    run(sender)
    events = list(Event.objects.order_by("seq"))
    got = receiver.wait_for(len(events))
    assert receiver.bad_signatures == 0
    assert [r.webhook_id for r in got] == [f"evt_{e.seq}" for e in events]
    assert [r.payload for r in got] == [event_payload(e) for e in events]
    for r in got:
        assert abs(int(r.headers["webhook-timestamp"]) - time.time()) < 30
        assert r.headers["webhook-signature"].startswith("v1,")
        assert r.headers["Content-Type"] == "application/json"
    assert set(Delivery.objects.values_list("status", "attempts", "response_code")) == {
        (DeliveryStatus.DELIVERED, 1, 204)
    }


def test_a_receiver_holding_another_secret_refuses_and_the_delivery_waits(
    receiver, endpoint, sender
):
    receiver.secret = secret_generate()
    task_create(descriptions=["x"])
    run(sender)
    assert receiver.bad_signatures == 1
    d = Delivery.objects.get()
    assert (d.status, d.attempts, d.response_code) == (DeliveryStatus.PENDING, 1, 401)


def test_only_the_chosen_event_types_are_delivered(receiver, sender, alice):
    ep = services.endpoint_create(url=receiver.url, event_types=[EventType.TASK_COMPLETED])
    receiver.secret = ep.secret
    (task,) = task_create(descriptions=["x"])
    person_login(person_id=alice.pk)
    task_complete(task_id=task.pk, person_id=alice.pk)
    run(sender)
    assert [r.payload["type"] for r in receiver.wait_for(1)] == [EventType.TASK_COMPLETED]
    assert Delivery.objects.count() == 1


def test_a_failed_attempt_is_retried_after_a_backoff_with_the_same_webhook_id(
    receiver, endpoint, sender
):
    receiver.answer = fail_first(1)
    task_create(descriptions=["x"])
    run(sender)
    d = Delivery.objects.get()
    assert (d.status, d.attempts, d.response_code) == (DeliveryStatus.PENDING, 1, 500)
    assert d.response_body == "try later"
    wait = (d.next_attempt_at - d.last_attempt_at).total_seconds()
    assert services.RETRY_BASE_SECONDS * 0.5 <= wait <= services.RETRY_BASE_SECONDS
    run(sender)
    assert Delivery.objects.get().attempts == 1  # not due yet
    due_now()
    run(sender)
    d.refresh_from_db()
    assert (d.status, d.attempts, d.response_code) == (DeliveryStatus.DELIVERED, 2, 204)
    assert receiver.attempts == {f"evt_{d.seq}": 2}
    assert WebhookEndpoint.objects.get().failing_since is None


def test_retry_delays_grow_exponentially_with_jitter_up_to_an_hour():
    for attempts in range(1, 30):
        full = min(services.RETRY_MAX_DELAY, services.RETRY_BASE_SECONDS * 2 ** (attempts - 1))
        delays = {services.retry_delay(attempts) for _ in range(20)}
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(delays) > 1


def test_a_tasks_later_events_wait_until_its_earlier_one_is_delivered(
    receiver, endpoint, sender, alice
):
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=alice.pk)  # first: created, then assigned
    receiver.answer = fail_first(
        1,
        when=lambda p: (p["data"].get("task_id"), p["type"]) == (first.pk, EventType.TASK_CREATED),
    )
    run(sender)
    by_type = {(d.event.task_id, d.event.type): d for d in Delivery.objects.select_related("event")}
    assert by_type[(first.pk, EventType.TASK_CREATED)].attempts == 1
    assert by_type[(first.pk, EventType.TASK_CREATED)].status == DeliveryStatus.PENDING
    # Waits behind it, never tried; the other task's event went out.
    assert by_type[(first.pk, EventType.TASK_ASSIGNED)].attempts == 0
    assert by_type[(second.pk, EventType.TASK_CREATED)].status == DeliveryStatus.DELIVERED
    due_now()
    run(sender)
    order = [
        r.payload["type"] for r in receiver.received if r.payload["data"].get("task_id") == first.pk
    ]
    assert order == [EventType.TASK_CREATED, EventType.TASK_ASSIGNED]
    assert not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()


def test_a_delivery_fails_for_good_after_the_retry_window_and_the_endpoint_is_disabled(
    receiver, endpoint, sender, settings
):
    settings.QC_WEBHOOK_RETRY_HOURS = 1 / 3600  # one second
    receiver.status = 500
    task_create(descriptions=["x"])
    run(sender)
    d = Delivery.objects.get()
    assert d.status == DeliveryStatus.PENDING
    assert d.next_attempt_at <= d.first_attempt_at + timedelta(seconds=1)
    assert WebhookEndpoint.objects.get().failing_since is not None
    assert webhooks_health()[0]["disabled"] is False
    time.sleep(1.1)
    due_now()
    run(sender)
    d.refresh_from_db()
    assert (d.status, d.attempts) == (DeliveryStatus.FAILED, 2)
    ep = WebhookEndpoint.objects.get()
    assert not ep.is_active and ep.disabled_at is not None
    assert "500" in ep.disabled_reason
    (row,) = webhooks_health()
    assert row["disabled"] and row["endpoint"].pk == ep.pk

    # While disabled, nothing is fanned out to it; enabled again, it catches up, and a
    # failed delivery can be sent again.
    task_create(descriptions=["while disabled"])
    run(sender)
    assert Delivery.objects.count() == 1
    receiver.status = 204
    assert services.endpoints_enable(endpoint_ids=[ep.pk]) == 1
    assert services.deliveries_resend(delivery_ids=[d.pk]) == 1
    run(sender)
    assert Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 2
    assert webhooks_health() == []


def test_one_failing_event_does_not_disable_an_endpoint_that_answers_others(
    receiver, endpoint, sender, settings
):
    settings.QC_WEBHOOK_RETRY_HOURS = 1 / 3600
    first, _ = task_create(descriptions=["poison", "fine"])
    receiver.answer = fail_first(99, 400, when=lambda p: p["data"]["task_id"] == first.pk)
    run(sender)
    time.sleep(1.1)
    due_now()
    run(sender)
    assert Delivery.objects.get(event__task_id=first.pk).status == DeliveryStatus.FAILED
    assert WebhookEndpoint.objects.get().is_active


def test_redirects_are_not_followed(receiver, endpoint, sender):
    receiver.answer = lambda payload, n: (302, "", {"Location": "/elsewhere"})
    task_create(descriptions=["x"])
    run(sender)
    d = Delivery.objects.get()
    assert (d.status, d.response_code) == (DeliveryStatus.PENDING, 302)
    assert receiver.requests == 1


def test_a_large_answer_is_read_only_in_part(receiver, endpoint, sender):
    receiver.answer = lambda payload, n: (500, "x" * 1_000_000, {})
    task_create(descriptions=["x"])
    run(sender)
    assert len(Delivery.objects.get().response_body) == services.STORED_BODY


def test_a_receiver_slower_than_the_timeout_counts_as_a_failure(receiver, endpoint):
    receiver.delay = 2
    slow = Sender(timeout=0.5)
    try:
        task_create(descriptions=["x"])
        run(slow, cycles=1)
    finally:
        slow.close()
    d = Delivery.objects.get()
    assert (d.status, d.attempts, d.response_code) == (DeliveryStatus.PENDING, 1, None)
    assert d.error == "timed out"


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/qc",
        "ftp://hooks.example.com/qc",
        "https://user:secret@hooks.example.com/qc",
        "https:///nohost",
        "https://hooks.example.com:99999/qc",
    ],
)
def test_unsafe_urls_are_refused(url):
    with pytest.raises(DomainError):
        services.endpoint_create(url=url)
    assert not WebhookEndpoint.objects.exists()


def test_https_urls_and_allowed_hosts_are_accepted(settings):
    settings.QC_WEBHOOK_ALLOWED_HOSTS = ["receiver.lan"]
    services.endpoint_create(url="https://hooks.example.com/qc")
    services.endpoint_create(url="http://receiver.lan:8080/qc")
    assert WebhookEndpoint.objects.count() == 2


def test_a_url_no_longer_allowed_is_not_requested(receiver, endpoint, sender, settings):
    settings.QC_WEBHOOK_ALLOWED_HOSTS = []
    task_create(descriptions=["x"])
    run(sender)
    d = Delivery.objects.get()
    assert d.status == DeliveryStatus.PENDING and "https" in d.error
    assert receiver.requests == 0


def test_an_unknown_event_type_is_refused_for_an_endpoint(receiver):
    with pytest.raises(DomainError):
        services.endpoint_create(url="https://hooks.example.com/", event_types=["task.gone"])


def test_resend_posts_a_delivered_event_again(receiver, endpoint, sender):
    task_create(descriptions=["x"])
    run(sender)
    d = Delivery.objects.get()
    assert services.deliveries_resend(delivery_ids=[d.pk]) == 1
    run(sender)
    d.refresh_from_db()
    assert (d.status, d.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert [r.webhook_id for r in receiver.received] == [f"evt_{d.seq}"] * 2


def test_resend_leaves_pending_deliveries_alone(receiver, endpoint, sender):
    receiver.status = 500
    task_create(descriptions=["x"])
    run(sender)
    assert (
        services.deliveries_resend(delivery_ids=list(Delivery.objects.values_list("id", flat=True)))
        == 0
    )


def test_a_new_endpoint_receives_the_events_from_its_creation_on(receiver, sender):
    task_create(descriptions=["before"])
    ep = services.endpoint_create(url=receiver.url)
    receiver.secret = ep.secret
    task_create(descriptions=["after"])
    run(sender)
    assert [r.payload["type"] for r in receiver.wait_for(1)] == [EventType.TASK_CREATED]
    assert Delivery.objects.get().event.task_id == Event.objects.order_by("-id")[0].task_id


def test_every_endpoint_gets_its_own_deliveries_with_its_own_signature(receiver, endpoint, sender):
    other = Receiver().start()
    try:
        ep2 = services.endpoint_create(url=other.url)
        other.secret = ep2.secret
        task_create(descriptions=["x"])
        run(sender)
        assert len(receiver.wait_for(1)) == len(other.wait_for(1)) == 1
        assert receiver.bad_signatures == other.bad_signatures == 0
    finally:
        other.stop()


def test_an_answer_for_a_delivery_whose_lease_ran_out_is_dropped(receiver, endpoint):
    task_create(descriptions=["x"])
    services.events_sequence()
    services.deliveries_fan_out()
    first = services.deliveries_claim(limit=10, lease_seconds=60)
    assert len(first.outgoing) == 1
    assert not services.deliveries_claim(limit=10, lease_seconds=60).outgoing  # held
    due_now()  # the lease runs out; another worker claims it
    second = services.deliveries_claim(limit=10, lease_seconds=60)
    assert len(second.outgoing) == 1
    late = services.Answer(first.outgoing[0].delivery_id, endpoint.pk, status=204)
    assert services.deliveries_record(lease=first.lease, answers=[late]).stale == 1
    assert Delivery.objects.get().status == DeliveryStatus.PENDING
    ok = services.Answer(second.outgoing[0].delivery_id, endpoint.pk, status=200)
    assert services.deliveries_record(lease=second.lease, answers=[ok]).delivered == 1


def test_a_stopped_worker_hands_its_deliveries_back_due_at_once(receiver, endpoint, sender):
    receiver.delay = 3
    task_create(descriptions=["x"])
    services.events_sequence()
    services.deliveries_fan_out()
    claim = services.deliveries_claim(limit=10, lease_seconds=60)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    answers = sender.send(claim.outgoing, deadline=time.monotonic() + 60, stop=stop)
    assert time.monotonic() - started < 2
    assert [a.sent for a in answers] == [False]
    assert services.deliveries_record(lease=claim.lease, answers=answers).released == 1
    d = Delivery.objects.get()
    assert d.status == DeliveryStatus.PENDING and d.attempts == 0
    assert d.next_attempt_at <= datetime.now(UTC) + timedelta(seconds=1)


def test_a_request_that_could_not_end_within_the_lease_is_not_started(receiver, endpoint, sender):
    task_create(descriptions=["x"])
    services.events_sequence()
    services.deliveries_fan_out()
    claim = services.deliveries_claim(limit=10, lease_seconds=60)
    answers = sender.send(claim.outgoing, deadline=time.monotonic() + 1)
    assert [a.sent for a in answers] == [False]
    assert receiver.requests == 0


def test_the_pipelined_loop_delivers_everything_in_order_per_task(
    receiver, endpoint, sender, make_person
):
    from events.worker import Deliverer

    tasks = task_create(descriptions=[f"t{i}" for i in range(6)])
    people = [make_person() for _ in range(3)]
    for p in people:
        person_login(person_id=p.pk)
    for task in tasks[:3]:
        holder = Event.objects.filter(type=EventType.TASK_ASSIGNED, task_id=task.pk).get()
        task_complete(task_id=task.pk, person_id=holder.person_id)
    receiver.delay = 0.05
    deliverer = Deliverer(sender=sender, batch=2)  # small batches: two out at once
    for _ in range(200):
        if not deliverer.step(stop=threading.Event()):
            break
    deliverer.finish()
    assert deliverer.most_in_flight == Deliverer.IN_FLIGHT
    events = list(Event.objects.order_by("seq"))
    assert {r.webhook_id for r in receiver.received} == {f"evt_{e.seq}" for e in events}
    latest: dict = {}
    for r in receiver.received:
        task = r.payload["data"].get("task_id")
        if task is not None:
            assert r.payload["id"] > latest.get(task, 0)
            latest[task] = r.payload["id"]

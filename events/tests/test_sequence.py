"""The sequencer: consumers page by a number given to committed events only, so an event
whose transaction commits late is not passed over (the outbox visibility trap)."""

import random
import threading
import time

import pytest
from django.db import connection, transaction

from events import services
from events.models import Event, EventSequence, EventType
from events.selectors import events_after
from tasks.roles import make_supervisor
from tasks.services import task_create

pytestmark = pytest.mark.django_db


def seqs_in_id_order() -> list[int]:
    return list(Event.objects.order_by("id").values_list("seq", flat=True))


def test_events_are_sequenced_in_the_order_they_were_written():
    task_create(descriptions=["a", "b", "c"])
    assert services.events_sequence() == 3
    first = seqs_in_id_order()
    assert first == sorted(first) and len(set(first)) == 3
    task_create(descriptions=["d", "e"])
    assert services.events_sequence() == 2
    after = seqs_in_id_order()
    assert after[:3] == first
    assert min(after[3:]) > max(first)
    assert services.events_last_seq() == max(after)


def test_unsequenced_events_are_invisible_to_consumers():
    task_create(descriptions=["a"])
    assert events_after(after=0, types=None, limit=10) == []
    services.events_sequence()
    assert len(events_after(after=0, types=None, limit=10)) == 1


def test_numbers_go_on_above_the_last_after_the_sequence_row_is_lost():
    task_create(descriptions=["a", "b"])
    services.events_sequence()
    highest = services.events_last_seq()
    EventSequence.objects.all().delete()
    task_create(descriptions=["c"])
    assert services.events_sequence() == 1
    assert (
        Event.objects.get(seq__isnull=False, pk=Event.objects.order_by("-id")[0].pk).seq > highest
    )


def test_sequencing_stops_at_the_limit_and_goes_on_later():
    task_create(descriptions=[f"t{i}" for i in range(7)])
    assert services.events_sequence(limit=5) == 5
    assert Event.objects.filter(seq__isnull=True).count() == 2
    assert services.events_sequence() == 2


@pytest.mark.mysql
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_an_event_committed_after_a_later_one_is_not_passed_over(api, django_user_model):
    """Transaction A writes its event first (the lower id) but commits last. A consumer that
    already read B's event, paging on, still gets A's: A is numbered when it commits."""
    written, go = threading.Event(), threading.Event()
    ids = {}

    def slow_writer():
        try:
            with transaction.atomic():
                services.event_emit(EventType.TASK_CREATED, task_id=1)
                ids["a"] = Event.objects.order_by("-id").values_list("id", flat=True)[0]
                written.set()
                go.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(10)
    with transaction.atomic():
        services.event_emit(EventType.TASK_CREATED, task_id=2)
    ids["b"] = Event.objects.order_by("-id").values_list("id", flat=True)[0]
    assert ids["a"] < ids["b"]  # the trap: paging by insertion id would skip A from here

    api.force_authenticate(
        make_supervisor(django_user_model.objects.create_user("boss", password="x"))
    )
    page = api.get("/events?after=0").json()
    assert [e["data"]["task_id"] for e in page["results"]] == [2]

    b_id = page["last_id"]
    go.set()
    thread.join(10)
    page = api.get(f"/events?after={b_id}").json()
    assert [e["data"]["task_id"] for e in page["results"]] == [1]
    assert page["results"][0]["id"] > b_id  # numbered after B: it committed after B


@pytest.mark.mysql
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_consumer_sees_every_event_once_and_each_keys_events_in_order():
    """Writers commit in random order (each holds its transaction open a random moment),
    two sequencers and a consumer run beside them: the consumer gets every event exactly
    once, and each writer's events in the order it wrote them."""
    writers, per_writer = 4, 40
    done = threading.Event()
    seen: list[Event] = []
    errors: list[BaseException] = []

    def writer(key: int):
        try:
            rng = random.Random(key)
            for n in range(per_writer):
                with transaction.atomic():
                    services.event_emit(EventType.TASK_ASSIGNED, task_id=key, data={"n": n})
                    time.sleep(rng.uniform(0, 0.01))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    def sequencer():
        try:
            while not done.is_set():
                services.events_sequence()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def consumer():
        after = 0
        try:
            while True:
                finished = done.is_set()
                page = events_after(after=after, types=None, limit=50)
                seen.extend(page)
                if page:
                    after = page[-1].seq
                elif finished:
                    return
                else:
                    time.sleep(0.005)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(1000 + k,)) for k in range(writers)]
    helpers = [threading.Thread(target=sequencer) for _ in range(2)]
    reader = threading.Thread(target=consumer)
    for t in threads + helpers + [reader]:
        t.start()
    for t in threads:
        t.join(60)
    services.events_sequence()
    done.set()
    for t in helpers + [reader]:
        t.join(60)
    assert not errors, errors
    assert len(seen) == writers * per_writer
    assert len({e.pk for e in seen}) == len(seen)
    for k in range(writers):
        ns = [e.data["n"] for e in seen if e.task_id == 1000 + k]
        assert ns == list(range(per_writer))

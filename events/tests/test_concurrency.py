"""Under concurrent sign-ins, completes, sign-outs, interventions and assigner cycles (real
threads on MariaDB), the events tell exactly the story of the engine's tables, and each
task's events are numbered in the order they happened."""

import random
import threading

import pytest
from django.db import OperationalError, connection

from events import services
from events.models import Event, EventType
from qcproject.exceptions import DomainError
from tasks import assigner, interventions
from tasks.models import Task, TaskStatus
from tasks.roles import make_supervisor
from tasks.services import task_complete, task_create
from tasks.sessions import person_login, person_logout
from tasks.tests.invariants import assert_invariants

from .checks import assert_events_match_history, assert_sequence_follows_ids_per_task

pytestmark = [
    pytest.mark.mysql,
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
]


def test_events_match_the_history_under_concurrency(make_person, django_user_model):
    boss = make_supervisor(django_user_model.objects.create_user("boss", password="x"))
    people = [make_person() for _ in range(8)]
    task_create(descriptions=[f"t{i}" for i in range(60)])
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(body):
        def run():
            try:
                while not stop.is_set():
                    try:
                        body()
                    except (DomainError, OperationalError):
                        pass  # refused or retried out: a normal answer under contention
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                connection.close()

        return run

    def worker(person):
        rng = random.Random(person.pk)

        def step():
            me = person_login(person_id=person.pk)
            if me.current_task is not None and rng.random() < 0.8:
                task_complete(task_id=me.current_task.pk, person_id=person.pk)
            if rng.random() < 0.2:
                person_logout(person_id=person.pk)

        return step

    def intervene():
        ids = list(
            Task.objects.filter(status=TaskStatus.IN_PROGRESS).values_list("id", flat=True)[:20]
        )
        if ids:
            interventions.task_release(actor=boss, task_id=random.choice(ids))

    def produce():
        task_create(descriptions=["more"])

    bodies = [worker(p) for p in people] + [
        lambda: assigner.assignment_cycle(),
        intervene,
        produce,
        lambda: services.events_sequence(),
    ]
    threads = [threading.Thread(target=guarded(b)) for b in bodies]
    for t in threads:
        t.start()
    stop.wait(6)
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors
    services.events_sequence()
    assert_invariants()
    assert_events_match_history()
    assert_sequence_follows_ids_per_task()
    # The run did the work it claims to test.
    assert Event.objects.filter(type=EventType.TASK_COMPLETED).count() > 10
    assert Event.objects.filter(type=EventType.TASK_RELEASED).exists()

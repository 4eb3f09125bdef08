"""`manage.py run_webhooks` as it runs in production: real processes on MariaDB, two at
once, one killed with SIGKILL mid-batch, SIGTERM while requests are in flight."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from events import services
from events.models import Delivery, DeliveryStatus, Event
from events.testing import Receiver
from tasks.services import task_complete, task_create
from tasks.sessions import person_login
from tasks.testing import subprocess_env

ROOT = Path(__file__).resolve().parents[2]


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


def start_worker(log, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_webhooks", "--interval", "0.1"],
        cwd=ROOT,
        env=subprocess_env(QC_WEBHOOK_ALLOWED_HOSTS="127.0.0.1", **env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def make_history(make_person, tasks: int = 120, people: int = 6) -> None:
    created = task_create(descriptions=[f"t{i}" for i in range(tasks)])
    folks = [make_person() for _ in range(people)]
    for p in folks:
        person_login(person_id=p.pk)
    for task in created[: people * 3]:
        holder = task.__class__.objects.get(pk=task.pk).assigned_to_id
        if holder:
            task_complete(task_id=task.pk, person_id=holder)


def wait_all_delivered(receiver, timeout: float) -> set[str]:
    wanted = {f"evt_{s}" for s in Event.objects.values_list("seq", flat=True) if s}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.events_sequence()
        wanted = {f"evt_{s}" for s in Event.objects.values_list("seq", flat=True)}
        with receiver.lock:
            got = {r.webhook_id for r in receiver.received}
        if wanted and wanted <= got and not Event.objects.filter(seq__isnull=True).exists():
            return wanted
        time.sleep(0.2)
    raise AssertionError(f"{len(wanted - got)} events never delivered")


def assert_in_order_per_task(receiver) -> int:
    """Each task's events arrived in order: no event after a later one of its task had
    arrived (a repeat of one just delivered is fine). Returns the duplicates."""
    latest: dict[int, int] = {}
    duplicates = 0
    seen = set()
    for r in receiver.received:
        if r.webhook_id in seen:
            duplicates += 1
        seen.add(r.webhook_id)
        task = r.payload["data"].get("task_id")
        if task is None:
            continue
        assert r.payload["id"] >= latest.get(task, 0), f"task {task} out of order"
        latest[task] = r.payload["id"]
    return duplicates


@pytest.mark.mysql
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_workers_deliver_every_event_once_in_order_per_task(
    receiver, endpoint, make_person, tmp_path
):
    make_history(make_person)
    with open(tmp_path / "w.log", "wb") as log:
        workers = [start_worker(log) for _ in range(2)]
        try:
            wanted = wait_all_delivered(receiver, timeout=60)
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            codes = [w.wait(15) for w in workers]
    assert codes == [0, 0], (tmp_path / "w.log").read_text()
    assert receiver.bad_signatures == 0
    assert assert_in_order_per_task(receiver) == 0
    assert {r.webhook_id for r in receiver.received} == wanted
    assert not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()


@pytest.mark.mysql
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing(receiver, endpoint, make_person, tmp_path):
    """SIGKILL while a batch is in flight: its deliveries go out again once their lease
    has run out, by the other worker; every event arrives, each task's in order."""
    make_history(make_person, tasks=60, people=4)
    receiver.delay = 0.3
    env = {"QC_WEBHOOK_TIMEOUT": "1"}  # a lease of a few seconds
    with open(tmp_path / "w.log", "wb") as log:
        doomed = start_worker(log, **env)
        deadline = time.monotonic() + 30
        while receiver.requests < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
        held = Delivery.objects.filter(status=DeliveryStatus.PENDING).exclude(lease="").count()
        assert held > 0  # it died holding a claim
        receiver.delay = 0
        survivor = start_worker(log, **env)
        try:
            wanted = wait_all_delivered(receiver, timeout=60)
        finally:
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(15) == 0
    assert {r.webhook_id for r in receiver.received} == wanted
    duplicates = assert_in_order_per_task(receiver)
    assert duplicates <= held
    assert receiver.bad_signatures == 0


@pytest.mark.mysql
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_a_worker_promptly_and_hands_its_deliveries_back(
    receiver, endpoint, tmp_path
):
    task_create(descriptions=[f"t{i}" for i in range(5)])
    receiver.delay = 5
    with open(tmp_path / "w.log", "wb") as log:
        worker = start_worker(log)
        deadline = time.monotonic() + 30
        while receiver.requests < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0
        assert time.monotonic() - started < 3
    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING)
    assert pending.count() == 5
    assert set(pending.values_list("lease", "attempts")) == {("", 0)}


@pytest.mark.django_db
def test_once_runs_one_cycle(receiver, endpoint):
    task_create(descriptions=["x"])
    call_command("run_webhooks", "--once")
    assert [r.payload["type"] for r in receiver.wait_for(1)] == ["task.created"]


def test_a_bad_interval_is_refused():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("run_webhooks", "--interval", "0")

import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.db.models.functions import Now

from personnel.models import Person
from tasks.assigner import CycleResult
from tasks.management.commands.run_assigner import Command
from tasks.models import Assignment, Task, TaskStatus
from tasks.testing import bulk_people, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_once_assigns_500_of_1000_tasks_to_500_free_people():
    bulk_people(500)
    Task.objects.bulk_create([Task(description=f"t{i}") for i in range(1000)])
    call_command("run_assigner", "--once")
    assert Task.objects.filter(status=TaskStatus.IN_PROGRESS).count() == 500
    assert Person.objects.filter(is_busy=True).count() == 500
    assert Assignment.objects.open().count() == 500
    # The oldest 500 went out.
    oldest = list(Task.objects.order_by("created_at", "id").values_list("id", flat=True)[:500])
    assert set(
        Task.objects.filter(status=TaskStatus.IN_PROGRESS).values_list("id", flat=True)
    ) == set(oldest)


@pytest.mark.django_db
def test_once_logs_what_it_did(caplog):
    bulk_people(2)
    Task.objects.bulk_create([Task(description="a")])
    with caplog.at_level("INFO", logger="tasks.assigner"):
        call_command("run_assigner", "--once")
    assert "assigned 1, released 0" in caplog.text


@pytest.mark.django_db
def test_idle_cycle_logs_nothing(caplog):
    with caplog.at_level("INFO", logger="tasks.assigner"):
        call_command("run_assigner", "--once")
    assert caplog.text == ""


def test_interval_must_be_positive():
    with pytest.raises(CommandError):
        call_command("run_assigner", "--once", "--interval", "0")


def test_loop_survives_a_database_outage_and_resumes(monkeypatch, caplog):
    calls = []
    stop = threading.Event()

    def flaky_cycle(*, stop):
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise OperationalError(2013, "Lost connection to MySQL server during query")
        if len(calls) >= 4:
            stop.set()
        return CycleResult(assigned=1)

    monkeypatch.setattr("tasks.management.commands.run_assigner.assignment_cycle", flaky_cycle)
    monkeypatch.setattr("tasks.management.commands.run_assigner.MAX_BACKOFF", 0.05)
    monkeypatch.setattr("tasks.management.commands.run_assigner._drop_connection", lambda: None)
    _no_reports(monkeypatch)
    with caplog.at_level("INFO", logger="tasks.assigner"):
        Command()._loop(stop, interval=0.01, name="test")
    assert len(calls) == 4
    assert caplog.text.count("database unavailable") == 2
    assert "database reachable again" in caplog.text
    assert "assigned 1" in caplog.text


def _no_reports(monkeypatch):
    from tasks.assigner import Claim

    module = "tasks.management.commands.run_assigner"
    monkeypatch.setattr(f"{module}.assigner_claim", lambda *, name: Claim(name=name or "t"))
    for name in ("assigner_report", "assigner_release"):
        monkeypatch.setattr(f"{module}.{name}", lambda **kw: None)
    monkeypatch.setattr(f"{module}.rollups.wait_hours_rollup", lambda **kw: 0)


def test_loop_stops_promptly_when_asked(monkeypatch):
    _no_reports(monkeypatch)
    stop = threading.Event()
    monkeypatch.setattr(
        "tasks.management.commands.run_assigner.assignment_cycle", lambda *, stop: CycleResult()
    )
    thread = threading.Thread(target=Command()._loop, args=(stop, 3600.0), kwargs={"name": "t"})
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_real_process_assigns_then_stops_promptly_on_signal(sig):
    assert connection.vendor == "mysql"
    bulk_people(3)
    Task.objects.bulk_create([Task(description=f"t{i}") for i in range(3)])
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_assigner", "--interval", "0.2"],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if Task.objects.filter(status=TaskStatus.IN_PROGRESS).count() == 3:
                break
            time.sleep(0.1)
        assert Task.objects.filter(status=TaskStatus.IN_PROGRESS).count() == 3
        proc.send_signal(sig)
        started = time.monotonic()
        out, _ = proc.communicate(timeout=10)
        assert time.monotonic() - started < 5
        assert proc.returncode == 0, out
        assert "assigner stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.django_db
def test_stale_session_released_in_one_cycle_then_late_complete_is_409(api, make_person, settings):
    from tasks.services import task_create
    from tasks.sessions import person_login

    settings.QC_HEARTBEAT_TIMEOUT = 1
    person = make_person()
    first, second = task_create(descriptions=["first", "second"])
    person_login(person_id=person.pk)
    Person.objects.filter(pk=person.pk).update(last_heartbeat=Now() - timedelta(seconds=2))

    call_command("run_assigner", "--once")

    first.refresh_from_db()
    assert first.status == TaskStatus.PENDING and first.assigned_to_id is None
    assert first.assignments.get().end_reason == "STALE"
    assert not Person.objects.get(pk=person.pk).is_logged_in
    api.force_authenticate(person.user)
    r = api.post(f"/tasks/{first.pk}/complete")
    assert r.status_code == 409
    assert Task.objects.get(pk=first.pk).status == TaskStatus.PENDING

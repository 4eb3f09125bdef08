"""The chaos harness's short variant, and regression tests for what the harness found.

`test_short_chaos_run` runs `python -m chaos --profile short` (see docs/reliability.md): a
private MariaDB server, gunicorn, two assigners, 40 simulated people and producers, with a
kill -9 and a SIGSTOP of assigners inside their transactions, a database restart under load
and duplicate and late requests; then the invariants in SQL and the task accounting. It
asserts outcomes, never latencies: zero violations, zero lost tasks, every fault injected.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

import tasks.assigner
from personnel.models import Person
from tasks.assigner import assignment_assign_batch
from tasks.testing import bulk_people, bulk_tasks
from tasks.tests.invariants import assert_invariants

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.concurrency
def test_short_chaos_run(tmp_path):
    report = tmp_path / "chaos.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaos", "--profile", "short", "--json", str(report)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the harness stops its processes, then exits
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        pytest.fail(f"the chaos run did not finish in time:\n{output[-4000:]}")
    print(output)
    assert report.exists(), output[-4000:]
    result = json.loads(report.read_text())
    assert result["error"] is None, output[-4000:]
    (outcome,) = result["outcomes"]
    assert outcome["violations"] == [], output[-4000:]
    assert outcome["lost"] == 0
    assert outcome["tasks"] > 0 and outcome["requests"] > 0
    faults = outcome["faults"]
    assert any(k.startswith("kill@assign.") for k in faults), faults
    assert any(k.startswith("stop@") for k in faults), faults
    assert faults.get("db restart") == 1, faults
    done = {kind for kind, verdicts in outcome["races"].items() if verdicts.get("ok")}
    assert {"double_complete", "logout_vs_complete", "late_complete", "late_heartbeat"} <= done
    assert outcome["missing_faults"] == []
    # The review rules had something to check: tasks reviewed by several people, verdicts.
    reviews = outcome["reviews"]
    assert reviews["several required"] > 0 and reviews["reviewed more than once"] > 0, reviews
    assert reviews["pass"] > 0 and reviews["fail"] > 0 and reviews["with defects"] > 0, reviews
    assert result["ok"] and proc.returncode == 0


# --- regression tests for what the harness found ---------------------------------------------


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_assigner_locks_only_as_many_people_as_it_has_tasks_for(monkeypatch):
    """REGRESSION, found by `make chaos` (scenario "SIGSTOP past the lock wait").

    An assigner frozen inside its transaction (SIGSTOP, a VM pause, a long GC) held the row
    lock of every free, live person (up to QC_ASSIGN_BATCH_SIZE), though it had only a few
    tasks to give. Every heartbeat, sign-in and sign-out of those people then waited
    QC_DB_LOCK_WAIT_TIMEOUT (sign-in and sign-out up to five times, retried), each holding a
    gunicorn sync worker: the web stalled, clients timed out, sessions expired in bulk. An
    assigner should lock no more people than it has pending tasks for.
    """
    people = bulk_people(10)  # idle in id order: the first two get the tasks
    bulk_tasks(2)
    paused, resume = threading.Event(), threading.Event()

    def freeze_here(name):
        if name == "assign.after_lock_tasks":
            paused.set()
            resume.wait(20)

    monkeypatch.setattr(tasks.assigner, "fault_point", freeze_here)
    outcome = []

    def assigner():
        try:
            outcome.append(assignment_assign_batch())
        finally:
            connection.close()

    thread = threading.Thread(target=assigner, daemon=True)
    thread.start()
    try:
        assert paused.wait(20), "the assigner never reached its fault point"
        unserved = people[2:]
        # By primary key (only that row) and NOWAIT: a row the frozen assigner holds raises
        # at once instead of waiting, as a heartbeat of that person would wait.
        held = []
        for person_id in unserved:
            try:
                with transaction.atomic():
                    Person.objects.select_for_update(nowait=True).get(pk=person_id)
            except DatabaseError:
                held.append(person_id)
        assert held == [], f"the assigner holds people it has no task for: {held}"
    finally:
        resume.set()
        thread.join(30)
    assert outcome and len(outcome[0]) == 2
    assert {p for p, _ in outcome[0]} == set(people[:2])
    assert_invariants(expected_tasks=2)


@pytest.mark.django_db
def test_assigner_with_no_pending_task_locks_nobody(monkeypatch):
    """REGRESSION companion: no pending task, no locked person (and no fault point passed)."""
    bulk_people(3)
    passed = []
    monkeypatch.setattr(tasks.assigner, "fault_point", passed.append)
    assert assignment_assign_batch() == []
    assert passed == []


def test_harness_strips_fault_variables_from_the_web(monkeypatch):
    """The web process never inherits a fault armed for the assigners."""
    from chaos.run import PROFILES, Harness

    monkeypatch.setenv("QC_FAULT_POINT", "assign.after_commit")
    harness = Harness.__new__(Harness)
    harness.p = PROFILES["short"]
    harness.secret = "x"
    harness.web_port = 1
    harness.db = type("DB", (), {"url": "mysql://root:@127.0.0.1:1/qc"})()
    env = harness.child_env()
    assert "QC_FAULT_POINT" not in env
    assert env["DATABASE_URL"].endswith(":1/qc")
    assert os.environ["QC_FAULT_POINT"] == "assign.after_commit"

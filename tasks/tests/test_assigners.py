"""Assigners under stable names: what /metrics and the dashboard show of them across
restarts, clean stops and crashes; and what `run_assigner` says."""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Now

from tasks import selectors as assigners
from tasks.assigner import assigner_claim, assigner_release, assigner_report
from tasks.models import AssignerInstance, Task
from tasks.testing import bulk_people, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def metrics(client, settings) -> str:
    settings.QC_METRICS_TOKEN = "s3cret"
    return client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()


def test_an_explicit_name_is_the_metrics_label_and_survives_a_restart(client, settings):
    assert assigner_claim(name="a1").name == "a1"
    assigner_report(name="a1", seconds=0.25, assigned=2, released=0)
    # A restart after a crash: same name, another holder; the row is taken over.
    AssignerInstance.objects.update(
        holder="elsewhere:1", last_cycle_at=Now() - timedelta(minutes=10)
    )
    claim = assigner_claim(name="a1")
    assert claim.took_over == "elsewhere:1"
    assigner_report(name="a1", seconds=0.5, assigned=1, released=0)
    text = metrics(client, settings)
    assert 'qc_assigner_cycle_duration_seconds{assigner="a1"} 0.5' in text
    assert "instance=" not in text  # Prometheus's own target label is never used
    assert AssignerInstance.objects.count() == 1


def test_a_clean_stop_removes_the_series(client, settings):
    assigner_claim(name="a1")
    assigner_report(name="a1", seconds=0.1, assigned=0, released=0)
    assert 'assigner="a1"' in metrics(client, settings)
    assert assigner_release(name="a1")
    assert 'assigner="a1"' not in metrics(client, settings)


def test_a_clean_stop_leaves_a_name_another_process_took_over():
    assigner_claim(name="a1")
    AssignerInstance.objects.update(holder="other-host:42")
    assert not assigner_release(name="a1")
    assert AssignerInstance.objects.filter(name="a1").exists()


def test_a_dead_assigner_stays_visible_then_drops_after_the_stale_period(client, settings):
    assigner_claim(name="gone")
    assigner_report(name="gone", seconds=0.1, assigned=0, released=0)
    settings.QC_ASSIGNER_STALE_AFTER = 600
    AssignerInstance.objects.update(last_cycle_at=Now() - timedelta(seconds=300))
    assert 'qc_assigner_last_success_timestamp_seconds{assigner="gone"}' in metrics(
        client, settings
    )
    AssignerInstance.objects.update(last_cycle_at=Now() - timedelta(seconds=900))
    assert 'assigner="gone"' not in metrics(client, settings)
    assert [a.name for a in assigners.assigners_live()] == []
    # The next assigner to start prunes the row.
    assigner_claim(name="new")
    assert list(AssignerInstance.objects.values_list("name", flat=True)) == ["new"]


def test_default_names_are_the_host_then_numbered_for_live_processes_on_it():
    host = socket.gethostname()
    me = assigner_claim()
    assert me.name == host
    # Another live process on this host holds the host name: the next gets host-2.
    AssignerInstance.objects.filter(name=host).update(holder=f"{host}:{os.getppid()}")
    assert assigner_claim().name == f"{host}-2"
    # A holder that died (no such process) leaves its name to the next.
    AssignerInstance.objects.filter(name=host).update(holder=f"{host}:999999999")
    assert assigner_claim().name == host


def test_a_holder_on_another_host_is_alive_while_it_reports(caplog):
    assigner_claim(name="shared")
    AssignerInstance.objects.update(holder="far-away:7", last_cycle_at=Now())
    with caplog.at_level("WARNING", logger="tasks.assigner"):
        assigner_claim(name="shared")
    assert "two processes report as one" in caplog.text


def test_a_report_after_the_row_was_pruned_registers_again():
    assigner_report(name="late", seconds=0.1, assigned=1, released=0)
    row = AssignerInstance.objects.get(name="late")
    assert (row.cycles, row.assigned_total) == (1, 1)


# --- run_assigner ---


def test_once_prints_what_it_did(capsys):
    bulk_people(2)
    Task.objects.bulk_create([Task(description="a")])
    call_command("run_assigner", "--once")
    assert "Assigned 1 task; signed out 0 stale sessions" in capsys.readouterr().out


def test_once_says_when_there_was_nothing_to_do(capsys):
    call_command("run_assigner", "--once")
    assert "Nothing to do" in capsys.readouterr().out


def test_once_with_verbosity_0_prints_nothing(capsys):
    bulk_people(1)
    Task.objects.bulk_create([Task(description="a")])
    call_command("run_assigner", "--once", verbosity=0)
    assert capsys.readouterr().out == ""


def test_verbosity_2_logs_idle_cycles(caplog):
    with caplog.at_level("DEBUG", logger="tasks.assigner"):
        call_command("run_assigner", "--once", verbosity=2)
    assert "idle cycle" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_real_process_reports_under_its_name_and_leaves_on_sigterm():
    assert connection.vendor == "mysql"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_assigner", "--interval", "0.2", "--name", "unit-7"],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = AssignerInstance.objects.filter(name="unit-7").first()
            if row and row.cycles >= 2:
                break
            time.sleep(0.1)
        assert row and row.cycles >= 2 and row.holder.endswith(f":{proc.pid}")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0, out
        assert "assigner unit-7 registered" in out
        assert not AssignerInstance.objects.filter(name="unit-7").exists()
    finally:
        if proc.poll() is None:
            proc.kill()

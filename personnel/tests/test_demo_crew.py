"""The demo's simulated crew against a live server: people sign in through the API with
their passwords, work, complete and sign out; the producer keeps the queue supplied."""

import random
import threading

import pytest
from django.core.management import CommandError, call_command

from personnel.management.commands import demo_crew
from personnel.models import Person
from tasks.models import Assignment, DefectCode, Task, TaskStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_crew_works_tasks_through_the_api_then_signs_out(live_server, capsys, settings):
    call_command("seed_demo", "--force")
    seeded = Task.objects.count()
    seeded_at = Assignment.objects.latest("assigned_at").assigned_at
    call_command(
        "demo_crew",
        *("--url", live_server.url, "--seconds", "12", "--pace", "0.02", "--seed", "7", "--force"),
    )
    out = capsys.readouterr().out
    completed = Assignment.objects.filter(completed_at__isnull=False)
    assert completed.count() >= 5, out
    assert completed.values("person").distinct().count() >= 3
    assert Task.objects.count() > seeded  # the producer added tasks
    assert "tasks completed" in out and "signed in" in out
    # Every review of the crew has a verdict; a fail logs active codes of the catalogue.
    crew = completed.filter(assigned_at__gt=seeded_at)
    assert crew.exists()
    assert set(crew.values_list("outcome", flat=True)) <= {"pass", "fail"}
    active = set(DefectCode.objects.filter(active=True).values_list("code", flat=True))
    for review in crew.exclude(defects=None):
        assert review.outcome == "fail" and 1 <= len(review.defects) <= 2
        assert set(review.defects) <= active
    # A clean stop: everyone signed out, nothing left in progress.
    assert not Person.objects.filter(is_logged_in=True).exists()
    assert not Task.objects.filter(status=TaskStatus.IN_PROGRESS).exists()


def test_crew_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("demo_crew", "--seconds", "1")


class CatalogueOnly:
    """A stand-in client that answers only GET /defect-codes."""

    def __init__(self):
        self.reads = 0

    def call(self, method, path, body=None):
        assert (method, path) == ("GET", "/defect-codes")
        self.reads += 1
        return [{"code": "DENT", "description": "Dent"}, {"code": "SCRATCH", "description": "S"}]


def test_crew_verdicts_are_mostly_passes_and_fails_log_one_or_two_codes():
    catalogue = CatalogueOnly()
    person = demo_crew.Person(
        catalogue,
        stop=threading.Event(),
        pace=1.0,
        rng=random.Random(3),
        tally=demo_crew.Tally(),
        say=print,
    )
    verdicts = [person.verdict() for _ in range(2000)]
    fails = [v for v in verdicts if v["outcome"] == "fail"]
    assert 0.10 < len(fails) / len(verdicts) < 0.20
    assert all(1 <= len(v["defects"]) <= 2 for v in fails)
    assert {code for v in fails for code in v["defects"]} == {"DENT", "SCRATCH"}
    assert all("defects" not in v for v in verdicts if v["outcome"] == "pass")
    assert 0.2 < sum(bool(v["notes"]) for v in verdicts) / len(verdicts) < 0.4
    assert catalogue.reads == 1  # once a shift

"""The demo's simulated crew against a live server: people sign in through the API with
their passwords, work, complete and sign out; the producer keeps the queue supplied."""

import pytest
from django.core.management import CommandError, call_command

from personnel.models import Person
from tasks.models import Assignment, Task, TaskStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_crew_works_tasks_through_the_api_then_signs_out(live_server, capsys, settings):
    call_command("seed_demo", "--force")
    seeded = Task.objects.count()
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
    # A clean stop: everyone signed out, nothing left in progress.
    assert not Person.objects.filter(is_logged_in=True).exists()
    assert not Task.objects.filter(status=TaskStatus.IN_PROGRESS).exists()


def test_crew_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("demo_crew", "--seconds", "1")

"""Helpers shared by the test suites (fixtures live in the top-level conftest.py)."""

import os
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.functions import Now

from personnel.models import Person

from .models import Task
from .services import task_create


def age_heartbeat(person, seconds: float) -> None:
    """Move a person's (or person id's) last heartbeat `seconds` into the past, DB clock."""
    person_id = getattr(person, "pk", person)
    Person.objects.filter(pk=person_id).update(last_heartbeat=Now() - timedelta(seconds=seconds))


def make_tasks(*descriptions: str) -> list[Task]:
    """Pending tasks, oldest first (each a minute older than the next, on the DB clock).

    task_create's on-commit offer never runs in a test that is rolled back, so they wait.
    """
    tasks = task_create(descriptions=list(descriptions))
    for age, task in enumerate(reversed(tasks), start=1):
        Task.objects.filter(pk=task.pk).update(created_at=Now() - timedelta(minutes=age))
    return [Task.objects.get(pk=t.pk) for t in tasks]


def bulk_people(count: int, *, prefix: str = "bulk") -> list[int]:
    """`count` signed-in, free, live people, idle in id order; made directly for speed."""
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i}", password="!") for i in range(count)]
    )
    Person.objects.bulk_create([Person(user=u, name=u.username) for u in users])
    people = Person.objects.filter(user__username__startswith=prefix)
    people.update(is_logged_in=True, last_heartbeat=Now(), logged_in_at=Now(), idle_since=Now())
    return list(people.order_by("id").values_list("id", flat=True))


def bulk_tasks(count: int) -> list[int]:
    """`count` pending tasks inserted directly (no offer to free people), oldest first."""
    Task.objects.bulk_create([Task(description=f"bulk task {i}") for i in range(count)])
    return list(Task.objects.order_by("created_at", "id").values_list("id", flat=True))


def subprocess_env(**extra: str) -> dict:
    """The environment for a child process (an assigner, a server) on the test database."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/"
        f"{db['NAME']}"
    )
    env["DEBUG"] = "1"
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by browser tests for their own thread
    env.update(extra)
    return env

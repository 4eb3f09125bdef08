"""Reads of QC personnel with their work."""

from qcproject.exceptions import NotFound
from tasks import sql
from tasks.models import Task

from .models import Person


def person_get(*, person_id: int) -> Person:
    """The person with `current_task` set (their in-progress task or None).

    One query (the answer to every heartbeat, sign-in and complete): the person and, through
    the unique `in_progress_person`, their task. Raises NotFound for an unknown id.
    """
    person = sql.person_with_task(person_id)
    if person is None:
        raise NotFound(f"Person {person_id} does not exist.")
    return person


def person_list_with_tasks(queryset) -> list[Person]:
    """Evaluate a person queryset, setting `current_task` on each with one more query."""
    people = list(queryset)
    tasks = Task.objects.in_progress_for([p.pk for p in people])
    by_person = {t.assigned_to_id: t for t in tasks}
    for p in people:
        p.current_task = by_person.get(p.pk)
    return people

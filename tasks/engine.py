"""The rules every path that hands out or takes back work shares, each written once.

Sign-in and sign-out (`tasks.sessions`), complete (`tasks.services`), the supervisors'
interventions (`tasks.interventions`) and the assigner (`tasks.assigner`) are made of these
building blocks. Each runs inside the caller's transaction; the lock functions take the
locks in the one order of the code base (docs/engine.md, "Lock order"): **person rows (in
id order), then task rows, then counter rows**; assignment rows are written by key after
both.
"""

from django.db.models.functions import Now

from events import services as event_services
from events.models import EventType
from personnel.models import Person
from qcproject.exceptions import Conflict, NotFound

from . import counters, sql
from .models import Assignment, AssignmentSource, AuditEvent, Task, TaskStatus

# --- locks ---


def person_lock(person_id: int) -> Person:
    """Lock a person's row (first in the lock order), with `is_live` and `db_now` set.
    Raises NotFound."""
    person = sql.people_lock([person_id]).get(person_id)
    if person is None:
        raise NotFound(f"Person {person_id} does not exist.")
    return person


def task_lock_with_people(task_id: int, *, also: tuple[int, ...] = ()):
    """Lock the task's holder and the people in `also` (in id order), then the task.

    Returns (task, {person id: person with is_live}). Raises NotFound for an unknown task or
    person, Conflict when the task changed hands between the look and the lock.
    """
    # An unlocked look tells which person row to lock first (lock order: person, task).
    peek = Task.objects.filter(pk=task_id).values("status", "assigned_to_id").first()
    if peek is None:
        raise NotFound(f"Task {task_id} does not exist.")
    holder = peek["assigned_to_id"] if peek["status"] == TaskStatus.IN_PROGRESS else None
    wanted = {*also, *([holder] if holder else [])}
    people = sql.people_lock(wanted)
    for person_id in sorted(wanted):
        if person_id not in people:
            raise NotFound(f"Person {person_id} does not exist.")
    task = Task.objects.select_for_update().get(pk=task_id)
    now_holder = task.assigned_to_id if task.status == TaskStatus.IN_PROGRESS else None
    if now_holder != holder:
        raise Conflict(f"Task {task_id} changed hands just now; look again.", code="changed")
    return task, people


# --- handing work out ---


def tasks_pick(*, limit: int, exclude: tuple[int, ...] = ()) -> list[tuple]:
    """Lock the next `limit` tasks to hand out (other than `exclude`), in queue order,
    passing over tasks another transaction is taking (SKIP LOCKED): the one pick of every
    path that hands out work. Returns their rows (`sql.task_from_row` makes a Task)."""
    return sql.tasks_lock_next_pending(limit=limit, exclude=exclude)


# How an assignment's source is named in its event, `task.assigned` (docs/events.md).
EVENT_PATHS: dict[str, str] = {
    AssignmentSource.LOGIN: "sign_in",
    AssignmentSource.COMPLETE: "complete",
    AssignmentSource.ASSIGNER: "assigner",
    AssignmentSource.NEW_TASK: "new_task",
    AssignmentSource.SUPERVISOR: "reassign",
}


def tasks_hand_over(
    pairs: list[tuple[int, int]], *, source: str, external_ids: dict, now=None
) -> None:
    """Give each (person, task) pair's task to its person, counted, with its event.
    `external_ids` maps each task id to its `external_id` (for the event). The caller holds
    the locks on every person row, then every task row, of `pairs`, and has marked the
    people busy (`tasks_assign` does both)."""
    sql.tasks_hand_over(pairs, source=source, now=now)
    # Events: one INSERT for the batch, under the task locks (docs/events.md).
    event_services.events_emit_for_tasks(
        EventType.TASK_ASSIGNED,
        [(task_id, person_id, external_ids.get(task_id)) for person_id, task_id in pairs],
        data={"path": EVENT_PATHS.get(source, source.lower())},
    )
    counters.count(counters.assignments(source), len(pairs))


def tasks_assign(pairs: list[tuple[int, int]], *, source: str, external_ids: dict) -> None:
    """Mark the people of `pairs` busy and hand each their task (locks as `tasks_hand_over`)."""
    sql.people_busy([person_id for person_id, _ in pairs])
    tasks_hand_over(pairs, source=source, external_ids=external_ids)


def next_task_give(person_id: int, *, source: str, exclude: tuple[int, ...] = ()) -> Task | None:
    """Give this person, who is signed in and free and whose row the caller has locked, the
    next task (other than `exclude`). Returns it, or None when nothing waits."""
    rows = tasks_pick(limit=1, exclude=exclude)
    if not rows:
        return None
    task = sql.task_from_row(rows[0])
    tasks_assign([(person_id, task.pk)], source=source, external_ids={task.pk: task.external_id})
    task.status = TaskStatus.IN_PROGRESS
    task.assigned_to_id = person_id
    return task


def holder_free(person: Person, *, exclude: tuple[int, ...]) -> Task | None:
    """The holder lost their task to an intervention: free them, and if their session is
    live, give them another task at once (not the one just taken from them)."""
    Person.objects.filter(pk=person.pk).update(is_busy=False, idle_since=Now())
    if person.is_live:
        return next_task_give(person.pk, source=AssignmentSource.ASSIGNER, exclude=exclude)
    return None


# --- taking work back ---


def tasks_release(
    person_ids: list[int], *, reason: str, event_type: str = EventType.TASK_RELEASED
) -> list[int]:
    """Put the in-progress tasks of these people back in the queue; close their assignments
    with `reason`; record `event_type` (with the reason) for each. The caller holds the
    person row locks. A released task keeps its `created_at`, so it goes back to its place
    in the queue, not to the end. Returns the released task ids."""
    # The tasks after their people (lock order), found through the unique
    # `in_progress_person` index.
    rows = list(
        Task.objects.in_progress_for(person_ids)
        .select_for_update()
        .order_by("id")
        .values_list("id", "assigned_to_id", "external_id")
    )
    task_ids = [task_id for task_id, _, _ in rows]
    if task_ids:
        # Events: one INSERT, under the task locks (docs/events.md).
        event_services.events_emit_for_tasks(event_type, rows, data={"reason": reason.lower()})
        Task.objects.filter(pk__in=task_ids).update(status=TaskStatus.PENDING, assigned_to=None)
        Assignment.objects.filter(open_task__in=task_ids).update(ended_at=Now(), end_reason=reason)
        counters.count(counters.releases(reason), len(task_ids))
    return task_ids


def people_sign_out(person_ids: list[int], *, reason: str) -> list[int]:
    """End these people's sessions, releasing their tasks. The caller holds their locks.
    Returns the released task ids."""
    released = tasks_release(person_ids, reason=reason)
    Person.objects.filter(pk__in=person_ids).update(
        is_logged_in=False,
        is_busy=False,
        logged_in_at=None,
        idle_since=None,
        signed_out_reason=reason,
    )
    # Events: one INSERT, under the person locks (docs/events.md).
    event_services.events_emit_for_people(
        EventType.PERSON_SIGNED_OUT, person_ids, data={"reason": reason.lower()}
    )
    return released


# --- the audit trail ---


def audit(actor, action: str, *, person_id=None, task_id=None, detail: str = "") -> None:
    """Record a supervisor's action, in the transaction of the change it records."""
    AuditEvent.objects.create(
        actor=actor,
        actor_username=actor.get_username(),
        action=action,
        person_id=person_id,
        task_id=task_id,
        detail=detail,
    )

"""Task services: create and import tasks, complete a task (and get the next).

Each public service is one transaction, run again whole on deadlock or lock wait timeout
(`retry_transaction`), locking in the one order of the code base (docs/engine.md).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now

from events import services as event_services
from events.models import EventType
from personnel.models import Person
from qcproject.db import retry_transaction
from qcproject.exceptions import Conflict, DomainError, Forbidden, NotFound

from . import assigner, counters, engine
from .models import Assignment, AssignmentSource, AuditAction, EndReason, Task, TaskStatus

# The longest task description anyone may write (API, admin, import).
MAX_DESCRIPTION_LENGTH = 10_000


def _description_problem(description: str) -> str | None:
    """What is wrong with a task description (already stripped), or None: the one rule for
    descriptions, wherever tasks come from (API, admin, import)."""
    if not description:
        return "A task description may not be blank."
    if len(description) > MAX_DESCRIPTION_LENGTH:
        return f"A description is longer than {MAX_DESCRIPTION_LENGTH} characters."
    return None


def task_descriptions_clean(descriptions: list[str]) -> list[str]:
    """The descriptions of a batch of new tasks, stripped. Raises DomainError for an empty
    batch, more than QC_MAX_BULK_TASKS, or any description `_description_problem` refuses."""
    cleaned = [d.strip() for d in descriptions]
    if not cleaned:
        raise DomainError("Give at least one task.")
    if len(cleaned) > settings.QC_MAX_BULK_TASKS:
        raise DomainError(
            f"At most {settings.QC_MAX_BULK_TASKS} tasks at once.", code="too_many_tasks"
        )
    for description in cleaned:
        problem = _description_problem(description)
        if problem:
            raise DomainError(problem)
    return cleaned


def task_create(*, descriptions: list[str]) -> list[Task]:
    """Create tasks, all or none, in one transaction; then offer them to free people.

    Returns the tasks as they are after that offer (some may already be in progress).
    Raises DomainError for an empty list, a blank description or too many at once.
    """
    cleaned = task_descriptions_clean(descriptions)
    with transaction.atomic():
        ids = _insert_tasks([Task(description=d) for d in cleaned])
    return list(Task.objects.filter(pk__in=ids).order_by("id"))


def _insert_tasks(tasks: list[Task]) -> list[int]:
    """Insert tasks inside the caller's transaction; offer them to free people after commit."""
    if connection.features.can_return_rows_from_bulk_insert:
        ids = [t.pk for t in Task.objects.bulk_create(tasks, batch_size=1000)]
    else:  # MySQL 8 returns no ids from a multi-row INSERT; one INSERT per task instead.
        ids = []
        for task in tasks:
            task.save(force_insert=True)
            ids.append(task.pk)
    # Events: one INSERT (per thousand), while this transaction holds the new rows
    # (docs/events.md).
    event_services.events_emit_for_tasks(
        EventType.TASK_CREATED,
        [(task_id, None, task.external_id) for task_id, task in zip(ids, tasks, strict=True)],
    )
    counters.count(counters.CREATED, len(ids))
    # Nobody waits for the next cycle: free people get the new tasks once they exist for
    # everyone (after commit). If that fails, the assigner's cycle catches up.
    transaction.on_commit(
        lambda: assigner.assignment_assign(limit=len(ids), source=AssignmentSource.NEW_TASK),
        robust=True,
    )
    return ids


@dataclass
class ImportRow:
    line: int
    description: str
    external_id: str | None = None


@dataclass
class ImportResult:
    created: list[int]
    skipped: list[str]  # external ids already imported earlier


def task_import(*, actor, rows: list[ImportRow]) -> ImportResult:
    """Create the tasks of an import file, all in one transaction, recorded in the audit.

    Rows whose `external_id` already exists are skipped, so importing a file again creates
    nothing twice. The rows must be valid (see `task_import_validate`); raises DomainError
    otherwise, and Conflict when a concurrent import took one of the external ids.
    """
    errors = task_import_validate(rows)
    if errors:
        raise DomainError(f"{len(errors)} rows are invalid; nothing was imported.")
    wanted = [r.external_id for r in rows if r.external_id]
    existing: set[str] = set()
    for start in range(0, len(wanted), 1000):
        found = Task.objects.filter(external_id__in=wanted[start : start + 1000])
        existing.update(e for e in found.values_list("external_id", flat=True) if e is not None)
    new = [r for r in rows if not r.external_id or r.external_id not in existing]
    try:
        with transaction.atomic():
            ids = _insert_tasks(
                [Task(description=r.description, external_id=r.external_id) for r in new]
            )
            engine.audit(
                actor,
                AuditAction.IMPORT,
                detail=f"{len(ids)} tasks imported, {len(rows) - len(new)} already present",
            )
    except IntegrityError as exc:  # another import inserted one of these external ids
        raise Conflict("Another import added some of these tasks; import again.") from exc
    return ImportResult(created=ids, skipped=sorted(existing))


def task_import_validate(rows: list[ImportRow]) -> dict[int, list[str]]:
    """Per-row errors (line number → messages) of an import; empty when all rows are good."""
    errors: dict[int, list[str]] = {}
    seen: dict[str, int] = {}
    if len(rows) > settings.QC_MAX_IMPORT_ROWS:
        errors[0] = [f"At most {settings.QC_MAX_IMPORT_ROWS} rows in one import."]
    for row in rows:
        problems = []
        problem = _description_problem(row.description)
        if problem:
            problems.append(problem)
        if row.external_id:
            if len(row.external_id) > 255:
                problems.append("The external id is longer than 255 characters.")
            elif row.external_id in seen:
                problems.append(f"The external id repeats line {seen[row.external_id]}.")
            else:
                seen[row.external_id] = row.line
        if problems:
            errors[row.line] = problems
    if not rows:
        errors[0] = ["The file has no tasks."]
    return errors


@dataclass
class CompleteResult:
    task: Task
    next_task: Task | None
    changed: bool = True


@retry_transaction
def task_complete(*, task_id: int, person_id: int | None = None) -> CompleteResult:
    """Complete a task for the person it is in progress for, and give them the next one.

    `person_id` is the person completing it (a QC person acting for themselves); None means
    whoever holds it (a supervisor acting for them). Fenced: succeeds only while the task is
    in progress for that person, checked under the row locks. Locks the person, then the
    completed task, then (SKIP LOCKED) the next task. Repeating a complete that succeeded
    changes nothing and returns the same task with the person's current task as next.

    Raises NotFound (no such task), Forbidden (the task was never this person's), Conflict
    (not in progress for that person: released, reassigned, pending or never started).
    """
    with transaction.atomic():
        # Unlocked peek: which person row to lock first (lock order: person, then task).
        peek = Task.objects.filter(pk=task_id).values("status", "assigned_to_id").first()
        if peek is None:
            raise NotFound(f"Task {task_id} does not exist.")
        target = person_id if person_id is not None else peek["assigned_to_id"]
        if target is None:
            raise Conflict(f"Task {task_id} is not in progress.", code="task_not_in_progress")
        # Serialises with the sweep, logout and the assigner acting on this person.
        person = engine.person_lock(target)
        # Serialises with anything releasing or completing this task.
        task = Task.objects.select_for_update().get(pk=task_id)

        if task.status == TaskStatus.IN_PROGRESS and task.assigned_to_id == person.pk:
            Task.objects.filter(pk=task.pk).update(status=TaskStatus.COMPLETED)
            closed = Assignment.objects.filter(open_task=task.pk, person_id=person.pk).update(
                completed_at=Now(), ended_at=Now(), end_reason=EndReason.COMPLETED
            )
            assert closed == 1, "an in-progress task has exactly one open assignment"
            # Event: under the task lock (docs/events.md).
            event_services.event_emit(
                EventType.TASK_COMPLETED,
                task_id=task.pk,
                person_id=person.pk,
                external_id=task.external_id,
            )
            counters.count(counters.COMPLETIONS)
            task.status = TaskStatus.COMPLETED
            # The person's own complete is a sign of life; a supervisor's is not, and a
            # holder whose session expired gets no next task (the sweep will sign them out).
            acting_self = person_id is not None
            Person.objects.filter(pk=person.pk).update(
                is_busy=False,
                idle_since=Now(),
                **({"last_heartbeat": Now()} if acting_self else {}),
            )
            next_task = None
            if acting_self or person.is_live:
                next_task = engine.next_task_give(person.pk, source=AssignmentSource.COMPLETE)
            return CompleteResult(task=task, next_task=next_task)

        if task.status == TaskStatus.COMPLETED and task.assigned_to_id == person.pk:
            # The same complete again (a retry after a lost response): answer as before.
            current = Task.objects.filter(in_progress_person=person.pk).first()
            return CompleteResult(task=task, next_task=current, changed=False)

        if (
            person_id is not None
            and not Assignment.objects.filter(task_id=task.pk, person_id=person.pk).exists()
        ):
            raise Forbidden(f"Task {task_id} is not assigned to you.")
        raise Conflict(
            f"Task {task_id} is no longer in progress for {person.name}; it was released "
            "or has been given to someone else.",
            code="task_not_in_progress",
        )

"""The assignment engine: every state change of tasks and assignments.

Lock order, everywhere in the code base (pitfall 5): **person row, then task rows**; the
assignment rows are written by key after both. Each table is locked by its own query, by
primary key or through an index, inside one short `atomic()` (pitfall 1), and each public
service is retried whole on deadlock or lock wait timeout (`retry_transaction`).

Staleness is decided by the database's clock (`Now()` inside the query), never the host's.
"""

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Now

from personnel.models import Person, heartbeat_cutoff
from qcproject import sql
from qcproject.db import retry_transaction
from qcproject.exceptions import Conflict, DomainError, Forbidden, NotFound
from qcproject.faults import fault_point

from . import counters
from .models import (
    AssignerInstance,
    Assignment,
    AssignmentSource,
    AuditAction,
    AuditEvent,
    EndReason,
    Task,
    TaskStatus,
)

logger = logging.getLogger(__name__)

# The longest task description anyone may write (API, admin, import).
MAX_DESCRIPTION_LENGTH = 10_000


# --- building blocks: run inside the caller's transaction, on rows the caller has locked ---


def _assign_pairs(pairs: list[tuple[int, int]], *, source: str) -> None:
    """Give each (person, task) pair's task to its person: three set-based writes, counted.

    The caller holds the locks on every person row, then every task row, of `pairs`.
    """
    sql.people_busy([person_id for person_id, _ in pairs])
    _hand_over(pairs, source=source)


def _hand_over(pairs: list[tuple[int, int]], *, source: str, now=None) -> None:
    """`_assign_pairs` for a caller that has marked the people busy itself (a sign-in
    writes the session and the busy flag in one statement); see `sql.tasks_hand_over`."""
    sql.tasks_hand_over(pairs, source=source, now=now)
    counters.count(counters.assignments(source), len(pairs))


def _give_next_task(person_id: int, *, source: str, exclude: tuple[int, ...] = ()) -> Task | None:
    """Assign the oldest pending task (other than `exclude`) to this person, who must be
    signed in and free.

    The caller holds the person's row lock. Locks the task with SKIP LOCKED, so a task that
    another transaction is taking is passed over instead of waited for.
    """
    task = sql.task_lock_next_pending(exclude=exclude)
    if task is None:
        return None
    _assign_pairs([(person_id, task.pk)], source=source)
    task.status = TaskStatus.IN_PROGRESS
    task.assigned_to_id = person_id
    return task


def _release_tasks(person_ids: list[int], *, reason: str) -> list[int]:
    """Put the in-progress tasks of these people back in the queue; close their assignments.

    The caller holds the person row locks. A released task keeps its `created_at`, so it
    goes back to its place in the queue, not to the end. Returns the released task ids.
    """
    # Locks the tasks after their people (lock order), found through the unique
    # `in_progress_person` index.
    task_ids = list(
        Task.objects.in_progress_for(person_ids)
        .select_for_update()
        .order_by("id")
        .values_list("id", flat=True)
    )
    if task_ids:
        Task.objects.filter(pk__in=task_ids).update(status=TaskStatus.PENDING, assigned_to=None)
        Assignment.objects.filter(open_task__in=task_ids).update(ended_at=Now(), end_reason=reason)
        counters.count(counters.releases(reason), len(task_ids))
    return task_ids


def _sign_out(person_ids: list[int], *, reason: str) -> list[int]:
    """End these people's sessions, releasing their tasks. The caller holds their locks."""
    released = _release_tasks(person_ids, reason=reason)
    Person.objects.filter(pk__in=person_ids).update(
        is_logged_in=False,
        is_busy=False,
        logged_in_at=None,
        idle_since=None,
        signed_out_reason=reason,
    )
    return released


# --- task services ---


def _validate_descriptions(descriptions: list[str]) -> list[str]:
    cleaned = [d.strip() for d in descriptions]
    if not cleaned:
        raise DomainError("Give at least one task.")
    if len(cleaned) > settings.QC_MAX_BULK_TASKS:
        raise DomainError(f"At most {settings.QC_MAX_BULK_TASKS} tasks at once.")
    if any(not d for d in cleaned):
        raise DomainError("A task description may not be blank.")
    if any(len(d) > MAX_DESCRIPTION_LENGTH for d in cleaned):
        raise DomainError(f"A description is longer than {MAX_DESCRIPTION_LENGTH} characters.")
    return cleaned


def task_create(*, descriptions: list[str]) -> list[Task]:
    """Create tasks, all or none, in one transaction; then offer them to free people.

    Returns the tasks as they are after that offer (some may already be in progress).
    Raises DomainError for an empty list, a blank description or too many at once.
    """
    cleaned = _validate_descriptions(descriptions)
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
    counters.count(counters.CREATED, len(ids))
    # Nobody waits for the next cycle: free people get the new tasks once they exist for
    # everyone (after commit). If that fails, the assigner's cycle catches up.
    transaction.on_commit(
        lambda: assignment_assign(limit=len(ids), source=AssignmentSource.NEW_TASK),
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
    existing = set()
    for start in range(0, len(wanted), 1000):
        existing.update(
            Task.objects.filter(external_id__in=wanted[start : start + 1000]).values_list(
                "external_id", flat=True
            )
        )
    new = [r for r in rows if not r.external_id or r.external_id not in existing]
    try:
        with transaction.atomic():
            ids = _insert_tasks(
                [Task(description=r.description, external_id=r.external_id) for r in new]
            )
            _audit(
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
        if not row.description:
            problems.append("The description is blank.")
        elif len(row.description) > MAX_DESCRIPTION_LENGTH:
            problems.append(f"The description is longer than {MAX_DESCRIPTION_LENGTH} characters.")
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
        person = Person.objects.with_liveness().select_for_update().filter(pk=target).first()
        if person is None:
            raise NotFound(f"Person {target} does not exist.")
        # Serialises with anything releasing or completing this task.
        task = Task.objects.select_for_update().get(pk=task_id)

        if task.status == TaskStatus.IN_PROGRESS and task.assigned_to_id == person.pk:
            Task.objects.filter(pk=task.pk).update(status=TaskStatus.COMPLETED)
            closed = Assignment.objects.filter(open_task=task.pk, person_id=person.pk).update(
                completed_at=Now(), ended_at=Now(), end_reason=EndReason.COMPLETED
            )
            assert closed == 1, "an in-progress task has exactly one open assignment"
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
                next_task = _give_next_task(person.pk, source=AssignmentSource.COMPLETE)
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


# --- supervisor interventions: each one transaction, each recorded in the audit trail ---


def _audit(actor, action: str, *, person_id=None, task_id=None, detail: str = "") -> None:
    AuditEvent.objects.create(
        actor=actor,
        actor_username=actor.get_username(),
        action=action,
        person_id=person_id,
        task_id=task_id,
        detail=detail,
    )


def _lock_task_and_people(task_id: int, *, also: tuple[int, ...] = ()):
    """Lock the task's holder (and the people in `also`), in id order, then the task.

    Returns (task, {person id: person annotated with is_live}). Raises NotFound for an
    unknown task or person, Conflict when the task changed hands between the look and
    the lock.
    """
    peek = Task.objects.filter(pk=task_id).values("status", "assigned_to_id").first()
    if peek is None:
        raise NotFound(f"Task {task_id} does not exist.")
    holder = peek["assigned_to_id"] if peek["status"] == TaskStatus.IN_PROGRESS else None
    wanted = sorted({*also, *([holder] if holder else [])})
    # Person rows first, in id order: two interventions on the same pair cannot deadlock.
    people = {
        p.pk: p
        for p in Person.objects.with_liveness()
        .select_for_update()
        .filter(pk__in=wanted)
        .order_by("id")
    }
    for person_id in wanted:
        if person_id not in people:
            raise NotFound(f"Person {person_id} does not exist.")
    # Then the task row.
    task = Task.objects.select_for_update().get(pk=task_id)
    now_holder = task.assigned_to_id if task.status == TaskStatus.IN_PROGRESS else None
    if now_holder != holder:
        raise Conflict(f"Task {task_id} changed hands just now; look again.", code="changed")
    return task, people


def _free_holder(person, *, exclude: tuple[int, ...]) -> Task | None:
    """The holder lost their task to an intervention: free them, and if their session is
    live, give them another task at once (not the one just taken from them)."""
    Person.objects.filter(pk=person.pk).update(is_busy=False, idle_since=Now())
    if person.is_live:
        return _give_next_task(person.pk, source=AssignmentSource.ASSIGNER, exclude=exclude)
    return None


@dataclass
class InterventionResult:
    task: Task
    previous_holder_id: int | None = None


@retry_transaction
def task_release(*, actor, task_id: int) -> InterventionResult:
    """Put an in-progress task back in the queue (its place kept); its holder moves on to
    another task. Raises NotFound, Conflict (not in progress)."""
    with transaction.atomic():
        task, people = _lock_task_and_people(task_id)
        if task.status != TaskStatus.IN_PROGRESS:
            raise Conflict(f"Task {task_id} is not in progress.", code="task_not_in_progress")
        holder = people[task.assigned_to_id]
        _release_tasks([holder.pk], reason=EndReason.RELEASED)
        _free_holder(holder, exclude=(task.pk,))
        _audit(actor, AuditAction.RELEASE, person_id=holder.pk, task_id=task.pk)
    return InterventionResult(task=Task.objects.get(pk=task_id), previous_holder_id=holder.pk)


@retry_transaction
def task_reassign(*, actor, task_id: int, person_id: int) -> InterventionResult:
    """Give a pending or in-progress task to a chosen person who is signed in and free.

    The previous holder, if any, moves on to another task. Raises NotFound, Conflict (the
    task is completed or cancelled, already theirs, or the person is not free and live).
    """
    with transaction.atomic():
        task, people = _lock_task_and_people(task_id, also=(person_id,))
        target = people[person_id]
        if task.status not in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS):
            raise Conflict(f"Task {task_id} is {task.get_status_display().lower()}.")
        if task.assigned_to_id == person_id:
            raise Conflict(f"Task {task_id} is already {target.name}'s.")
        if not target.is_live:
            raise Conflict(f"{target.name} is not signed in.", code="person_not_signed_in")
        if target.is_busy:
            raise Conflict(f"{target.name} is busy with another task.", code="person_busy")
        holder = people.get(task.assigned_to_id) if task.assigned_to_id else None
        if holder is not None:
            _release_tasks([holder.pk], reason=EndReason.REASSIGNED)
        _assign_pairs([(target.pk, task.pk)], source=AssignmentSource.SUPERVISOR)
        if holder is not None:
            _free_holder(holder, exclude=(task.pk,))
        detail = f"from {holder.name} to {target.name}" if holder else f"to {target.name}"
        _audit(actor, AuditAction.REASSIGN, person_id=target.pk, task_id=task.pk, detail=detail)
    return InterventionResult(
        task=Task.objects.get(pk=task_id), previous_holder_id=holder.pk if holder else None
    )


@retry_transaction
def task_cancel(*, actor, task_id: int) -> InterventionResult:
    """Cancel a pending or in-progress task: it is never assigned again and leaves the
    queue. Its holder moves on to another task. Raises NotFound, Conflict (completed or
    already cancelled)."""
    with transaction.atomic():
        task, people = _lock_task_and_people(task_id)
        if task.status not in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS):
            raise Conflict(f"Task {task_id} is {task.get_status_display().lower()}.")
        holder = people.get(task.assigned_to_id) if task.assigned_to_id else None
        if holder is not None:
            _release_tasks([holder.pk], reason=EndReason.CANCELLED)
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.CANCELLED, assigned_to=None)
        if holder is not None:
            _free_holder(holder, exclude=(task.pk,))
        _audit(
            actor,
            AuditAction.CANCEL,
            person_id=holder.pk if holder else None,
            task_id=task.pk,
        )
    return InterventionResult(
        task=Task.objects.get(pk=task_id), previous_holder_id=holder.pk if holder else None
    )


# --- the assigner ---


@retry_transaction
def assignment_sweep_stale(*, timeout: int | None = None, limit: int | None = None):
    """Sign out up to `limit` people whose heartbeat is older than `timeout` seconds.

    Their in-progress tasks go back to the queue; the assignments close with STALE.
    Returns (person ids signed out, task ids released).
    """
    limit = limit or settings.QC_ASSIGN_BATCH_SIZE
    with transaction.atomic():
        # The locking read is the re-check under the lock: InnoDB evaluates the predicate on
        # the latest committed row once it holds the lock, so a heartbeat that committed
        # first saves the person; one still in flight holds the row and it is skipped.
        person_ids = list(
            Person.objects.stale(timeout=timeout)
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if not person_ids:
            return [], []
        fault_point("sweep.after_lock_people")
        released = _sign_out(person_ids, reason=EndReason.STALE)
        fault_point("sweep.after_writes")
    return person_ids, released


@retry_transaction
def assignment_assign_batch(
    *, limit: int | None = None, source: str = AssignmentSource.ASSIGNER
) -> list[tuple[int, int]]:
    """Pair up to `limit` free, live people with the oldest pending tasks, in one transaction.

    Longest idle person gets the oldest task. Both locking reads SKIP LOCKED, so several
    assigners (and completes, sign-ins) take disjoint rows and never wait on each other.
    Returns the (person id, task id) pairs assigned.
    """
    limit = limit or settings.QC_ASSIGN_BATCH_SIZE
    with transaction.atomic():
        # Lock no more people than there are tasks for (an unlocked, bounded look): every
        # person row locked here makes that person's heartbeat, sign-in and sign-out wait
        # for this transaction, which is long if this process stalls (found by the chaos
        # suite's SIGSTOP fault: a frozen assigner held every free person and starved the web).
        waiting = len(Task.objects.pending().values_list("id", flat=True)[:limit])
        if not waiting:
            return []
        # Person rows first: prevents two assigners from giving one person two tasks.
        person_ids = list(
            Person.objects.free()
            .filter(last_heartbeat__gte=heartbeat_cutoff())
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:waiting]
        )
        if not person_ids:
            return []
        fault_point("assign.after_lock_people")
        # Then task rows: prevents two assigners from giving one task to two people.
        task_ids = list(
            Task.objects.pending()
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[: len(person_ids)]
        )
        fault_point("assign.after_lock_tasks")
        pairs = list(zip(person_ids, task_ids, strict=False))  # fewer tasks than people
        if pairs:
            _assign_pairs(pairs, source=source)
        fault_point("assign.after_writes")
    fault_point("assign.after_commit")
    return pairs


def assignment_assign(
    *,
    limit: int | None = None,
    source: str = AssignmentSource.ASSIGNER,
    stop: threading.Event | None = None,
) -> int:
    """Assign as many pairs as there are, batch after batch; stop between transactions."""
    batch = settings.QC_ASSIGN_BATCH_SIZE
    remaining = limit
    assigned = 0
    while remaining is None or remaining > 0:
        size = batch if remaining is None else min(batch, remaining)
        pairs = assignment_assign_batch(limit=size, source=source)
        assigned += len(pairs)
        if remaining is not None:
            remaining -= len(pairs)
        if len(pairs) < size or (stop is not None and stop.is_set()):
            break
    return assigned


@dataclass
class CycleResult:
    signed_out: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    assigned: int = 0

    def __bool__(self):
        return bool(self.signed_out or self.released or self.assigned)


def assignment_cycle(*, stop: threading.Event | None = None) -> CycleResult:
    """One assigner cycle: sign out stale sessions, then assign all that can be assigned.

    Each step runs in short transactions of at most QC_ASSIGN_BATCH_SIZE rows; `stop` is
    checked between them, never inside one.
    """
    result = CycleResult()
    batch = settings.QC_ASSIGN_BATCH_SIZE
    while not (stop is not None and stop.is_set()):
        signed_out, released = assignment_sweep_stale(limit=batch)
        result.signed_out += signed_out
        result.released += released
        if len(signed_out) < batch:
            break
    if not (stop is not None and stop.is_set()):
        result.assigned = assignment_assign(stop=stop)
    return result


def assigner_register(*, name: str) -> None:
    """Record a starting assigner process; forget processes silent for a day."""
    AssignerInstance.objects.filter(last_cycle_at__lt=Now() - Value(timedelta(days=1))).delete()
    AssignerInstance.objects.update_or_create(name=name, defaults={"last_cycle_at": None})


def assigner_report(*, name: str, seconds: float, result: CycleResult) -> None:
    """Record one finished cycle of this assigner (one UPDATE, on the database's clock)."""
    updated = AssignerInstance.objects.filter(name=name).update(
        last_cycle_at=Now(),
        last_cycle_seconds=seconds,
        cycles=F("cycles") + 1,
        assigned_total=F("assigned_total") + result.assigned,
        released_total=F("released_total") + len(result.released),
    )
    if not updated:  # pruned by another instance, or the table was emptied
        assigner_register(name=name)

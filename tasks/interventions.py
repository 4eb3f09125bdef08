"""Supervisor interventions on tasks: release, reassign, cancel, resolve a dispute. Each is
one transaction, recorded in the audit trail in that transaction, and locks the people
concerned (in id order), then the task (docs/engine.md). Signing a person out is `tasks.sessions`'s.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from events import services as event_services
from events.models import EventType
from qcproject.db import retry_transaction
from qcproject.exceptions import Conflict, NotFound

from . import counters, engine, routing
from .models import (
    NOTES_MAX_LENGTH,
    Assignment,
    AssignmentSource,
    AuditAction,
    EndReason,
    Outcome,
    Task,
    TaskStatus,
)


def _state(task: Task) -> str:
    """The task's state in a message: English, as every service's message, whatever the
    language of the page that asked (the labels of TaskStatus are translated)."""
    return task.status.lower().replace("_", " ")


@dataclass
class InterventionResult:
    task: Task
    previous_holder_id: int | None = None


@retry_transaction
def task_release(*, actor, task_id: int) -> InterventionResult:
    """Put an in-progress task back in the queue (its place kept); its holder moves on to
    another task. Raises NotFound, Conflict (not in progress)."""
    with transaction.atomic():
        task, people = engine.task_lock_with_people(task_id)
        if task.status != TaskStatus.IN_PROGRESS:
            raise Conflict(f"Task {task_id} is not in progress.", code="task_not_in_progress")
        holder = people[task.assigned_to_id]
        engine.tasks_release([holder.pk], reason=EndReason.RELEASED)
        engine.holder_free(holder, exclude=(task.pk,))
        engine.audit(actor, AuditAction.RELEASE, person_id=holder.pk, task_id=task.pk)
    return InterventionResult(task=Task.objects.get(pk=task_id), previous_holder_id=holder.pk)


@retry_transaction
def task_reassign(*, actor, task_id: int, person_id: int) -> InterventionResult:
    """Give a pending or in-progress task to a chosen person who is signed in and free.

    The person must have the task's skill (unless it has waited long enough to go to
    anyone, QC_SKILL_RELAX_AFTER); a person who declined the task may get it: the
    supervisor decides; a person who reviewed it may not (its reviews are independent). The
    previous holder, if any, moves on to another task. Raises NotFound, Conflict (the task
    is completed, cancelled, expired, disputed or already theirs; the person is not free
    and live, lacks the skill, or reviewed it).
    """
    with transaction.atomic():
        task, people = engine.task_lock_with_people(task_id, also=(person_id,))
        target = people[person_id]
        if task.status not in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS):
            raise Conflict(f"Task {task_id} is {_state(task)}.")
        if task.assigned_to_id == person_id:
            raise Conflict(f"Task {task_id} is already {target.name}'s.")
        if not target.is_live:
            raise Conflict(f"{target.name} is not signed in.", code="person_not_signed_in")
        if target.is_busy:
            raise Conflict(f"{target.name} is busy with another task.", code="person_busy")
        now = target.db_now
        if task.expires_at is not None and task.expires_at <= now:
            raise Conflict(f"Task {task_id} has expired.", code="task_expired")
        if Assignment.objects.filter(
            task_id=task.pk, person_id=target.pk, end_reason=EndReason.COMPLETED
        ).exists():
            raise Conflict(
                f"{target.name} has reviewed task {task_id} already; its next review needs "
                "someone else.",
                code="already_reviewed",
            )
        if not routing.may_take(
            target.skills or (),
            task_skill=task.skill,
            created_at=task.created_at,
            cutoff=routing.relax_cutoff(now),
        ):
            raise Conflict(
                f"Task {task_id} needs the skill '{task.skill}', which {target.name} does not "
                "have.",
                code="skill_missing",
            )
        holder = people.get(task.assigned_to_id) if task.assigned_to_id else None
        if holder is not None:
            engine.tasks_release([holder.pk], reason=EndReason.REASSIGNED)
        engine.tasks_assign(
            [(target.pk, task.pk)],
            source=AssignmentSource.SUPERVISOR,
            external_ids={task.pk: task.external_id},
        )
        if holder is not None:
            engine.holder_free(holder, exclude=(task.pk,))
        detail = f"from {holder.name} to {target.name}" if holder else f"to {target.name}"
        engine.audit(
            actor, AuditAction.REASSIGN, person_id=target.pk, task_id=task.pk, detail=detail
        )
    return InterventionResult(
        task=Task.objects.get(pk=task_id), previous_holder_id=holder.pk if holder else None
    )


@retry_transaction
def task_cancel(*, actor, task_id: int) -> InterventionResult:
    """Cancel a pending or in-progress task: it is never assigned again and leaves the
    queue. Its holder moves on to another task. Raises NotFound, Conflict (completed or
    already cancelled)."""
    with transaction.atomic():
        task, people = engine.task_lock_with_people(task_id)
        if task.status not in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS):
            raise Conflict(f"Task {task_id} is {_state(task)}.")
        holder = people.get(task.assigned_to_id) if task.assigned_to_id else None
        if holder is not None:
            engine.tasks_release([holder.pk], reason=EndReason.CANCELLED)
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.CANCELLED, assigned_to=None)
        # Event: under the task lock (docs/events.md).
        event_services.event_emit(
            EventType.TASK_CANCELLED,
            task_id=task.pk,
            person_id=holder.pk if holder else None,
            external_id=task.external_id,
        )
        if holder is not None:
            engine.holder_free(holder, exclude=(task.pk,))
        engine.audit(
            actor,
            AuditAction.CANCEL,
            person_id=holder.pk if holder else None,
            task_id=task.pk,
        )
    return InterventionResult(
        task=Task.objects.get(pk=task_id), previous_holder_id=holder.pk if holder else None
    )


@retry_transaction
def task_resolve(*, actor, task_id: int, outcome: str, note: str) -> InterventionResult:
    """Resolve a DISPUTED task (its reviews disagreed): it becomes COMPLETED with the
    supervisor's final `outcome` ("pass" or "fail") and `note`, recorded in the audit trail,
    with its event. Raises ValidationError (no such outcome, no note or too long), NotFound,
    Conflict (the task is not disputed)."""
    note = (note or "").strip()
    errors = {}
    if outcome not in Outcome.values:
        errors["outcome"] = ['The outcome is "pass" or "fail".']
    if not note:
        errors["note"] = ["Say why: the note stays with the task."]
    elif len(note) > NOTES_MAX_LENGTH:
        errors["note"] = [f"At most {NOTES_MAX_LENGTH} characters."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Only the task row: nobody holds a disputed task (lock order: docs/engine.md).
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            raise NotFound(f"Task {task_id} does not exist.")
        if task.status != TaskStatus.DISPUTED:
            raise Conflict(
                f"Task {task_id} is {_state(task)}; only a disputed task is resolved.",
                code="task_not_disputed",
            )
        Task.objects.filter(pk=task.pk).update(
            status=TaskStatus.COMPLETED, outcome=outcome, resolution_note=note
        )
        # Event: under the task lock (docs/events.md).
        event_services.event_emit(
            EventType.TASK_RESOLVED,
            task_id=task.pk,
            external_id=task.external_id,
            data={"outcome": outcome},
        )
        counters.count(counters.outcomes(outcome))
        engine.audit(actor, AuditAction.RESOLVE, task_id=task.pk, detail=f"{outcome}: {note}")
    return InterventionResult(task=Task.objects.get(pk=task_id))

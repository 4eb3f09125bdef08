"""Task services: create, import and change tasks, complete or decline a task (and get
the next).

Each public service is one transaction, run again whole on deadlock or lock wait timeout
(`retry_transaction`), locking in the one order of the code base (docs/engine.md).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from events import services as event_services
from events.models import EventType
from personnel.models import Person
from qcproject.db import db_now, retry_transaction
from qcproject.exceptions import Conflict, DomainError, Forbidden, NotFound

from . import assigner, counters, engine, reviews, routing, sql
from .models import (
    DECLINE_REASON_MAX_LENGTH,
    Assignment,
    AssignmentSource,
    AuditAction,
    EndReason,
    Exclusion,
    ExclusionReason,
    Task,
    TaskStatus,
)

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


@dataclass
class NewTask:
    """A task to create: its description and routing (docs/engine.md, "Routing")."""

    description: str
    priority: int = 0
    skill: str | None = None
    max_handle_seconds: int | None = None
    expires_at: datetime | None = None
    external_id: str | None = None
    reviews_required: int = 1


def task_create(
    *, descriptions: list[str] | None = None, tasks: list[NewTask] | None = None
) -> list[Task]:
    """Create tasks, all or none, in one transaction; then offer them to free people.

    Give `descriptions` (tasks for anyone, priority 0) or `tasks` (with their routing).
    Returns the tasks as they are after that offer (some may already be in progress).
    Raises DomainError for an empty list, a blank description or too many at once, and
    ValidationError with field errors for routing fields `tasks.routing` refuses (keyed by
    the task's position when there are several).
    """
    new = tasks if tasks is not None else [NewTask(d) for d in descriptions or []]
    cleaned = task_descriptions_clean([t.description for t in new])
    built = _tasks_built(new, cleaned)
    with transaction.atomic():
        ids = _insert_tasks(built)
    return list(Task.objects.filter(pk__in=ids).order_by("id"))


def _tasks_built(new: list[NewTask], descriptions: list[str]) -> list[Task]:
    """Task instances of `new` (with the cleaned descriptions), or ValidationError."""
    now = db_now() if any(t.expires_at is not None for t in new) else None
    errors: dict[str, list[str]] = {}
    for index, task in enumerate(new):
        problems = routing.routing_problems(
            priority=task.priority,
            skill=task.skill,
            max_handle_seconds=task.max_handle_seconds,
            expires_at=task.expires_at,
            now=now,
        )
        problem = reviews.reviews_required_problem(task.reviews_required)
        if problem:
            problems = {**problems, "reviews_required": [problem]}
        for name, messages in problems.items():
            key = name if len(new) == 1 else f"{index}.{name}"
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return [
        Task(
            description=description,
            priority=task.priority,
            skill=routing.skill_clean(task.skill),
            max_handle_seconds=task.max_handle_seconds,
            expires_at=task.expires_at,
            external_id=task.external_id,
            reviews_required=task.reviews_required,
        )
        for task, description in zip(new, descriptions, strict=True)
    ]


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
    """A row of an import file as read. The routing fields are as the file gave them (text
    from a CSV file, JSON values from a JSON file; None or "" when absent); validation
    turns them into a task's (`task_import_validate`)."""

    line: int
    description: str
    external_id: str | None = None
    priority: object = None
    skill: object = None
    max_handle_seconds: object = None
    expires_at: object = None
    reviews_required: object = None

    ROUTING = ("priority", "skill", "max_handle_seconds", "expires_at")
    # The columns of a file beyond the description and external id.
    COLUMNS = (*ROUTING, "reviews_required")


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
    now = db_now()
    tasks = []
    for row in new:
        task, _ = _import_task(row, now)
        assert task is not None, "validated above"
        tasks.append(task)
    try:
        with transaction.atomic():
            ids = _insert_tasks(
                _tasks_built(tasks, [t.description for t in tasks]) if tasks else []
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
    now = db_now() if any(r.expires_at not in (None, "") for r in rows) else None
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
        problems += _import_task(row, now)[1]
        if problems:
            errors[row.line] = problems
    if not rows:
        errors[0] = ["The file has no tasks."]
    return errors


# More digits than any priority or time limit has (and far fewer than Python refuses to
# read: a 5,000-digit number in a file is a row's problem, not the server's).
_IMPORT_DIGITS = 18


def _import_number(value, name: str, problems: list[str]):
    """A whole number from a file: digits in a CSV cell or a JSON number (kept as its text
    by the reader), or a spreadsheet's number; None if absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet's number cell
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        if len(value.strip()) <= _IMPORT_DIGITS:
            return int(value.strip())
        problems.append(f"{name}: the number is too large.")
        return None
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "…"
    problems.append(f"{name}: {shown} is not a whole number.")
    return None


def _import_task(row: ImportRow, now) -> tuple[NewTask | None, list[str]]:
    """The task an import row describes, and what is wrong with it (`tasks.routing`'s
    rules, as for every other way of creating tasks)."""
    problems: list[str] = []
    priority = _import_number(row.priority, "priority", problems)
    required = _import_number(row.reviews_required, "reviews_required", problems)
    limit = _import_number(row.max_handle_seconds, "max_handle_seconds", problems)
    expires_at = None
    if isinstance(row.expires_at, datetime):  # a spreadsheet's date cell
        expires_at = row.expires_at
    elif isinstance(row.expires_at, str) and row.expires_at.strip():
        try:
            expires_at = parse_datetime(row.expires_at.strip()[:64])
        except ValueError:
            expires_at = None
        if expires_at is None:
            shown = row.expires_at.strip()[:40]
            problems.append(
                f"expires_at: {shown!r} is not a date and time (ISO 8601, such as "
                "2030-01-31T17:00:00Z)."
            )
    elif row.expires_at not in (None, ""):
        problems.append("expires_at: give a date and time as text (ISO 8601).")
    if expires_at is not None and timezone.is_naive(expires_at):
        # A time without its zone is the site's (TIME_ZONE), as the admin shows times.
        expires_at = timezone.make_aware(expires_at, timezone.get_default_timezone())
    skill = row.skill if row.skill not in ("",) else None
    task = NewTask(
        description=row.description,
        priority=0 if priority is None else priority,
        skill=skill,  # type: ignore[arg-type]  # checked below
        max_handle_seconds=limit,
        expires_at=expires_at,
        external_id=row.external_id,
        reviews_required=1 if required is None else required,
    )
    problem = reviews.reviews_required_problem(task.reviews_required)
    if problem:
        problems.append(f"reviews_required: {problem}")
    found = routing.routing_problems(
        priority=task.priority,
        skill=task.skill,
        max_handle_seconds=task.max_handle_seconds,
        expires_at=task.expires_at,
        now=now,
    )
    problems += [f"{name}: {message}" for name, messages in found.items() for message in messages]
    return (None if problems else task), problems


@dataclass
class CompleteResult:
    task: Task
    next_task: Task | None
    changed: bool = True


@retry_transaction
def task_complete(
    *,
    task_id: int,
    person_id: int | None = None,
    holder_id: int | None = None,
    outcome: str | None = None,
    notes: str | None = None,
    defects=None,
) -> CompleteResult:
    """Complete a task for the person it is in progress for, with their verdict, and give
    them the next one.

    `person_id` is the person completing it (a QC person acting for themselves); None means
    a supervisor acting for the holder: `holder_id` if they name them (a repeat is then
    told from the next reviewer's task), else whoever holds it. The complete is the
    holder's review: `outcome` ("pass", "fail"; required with QC_REQUIRE_OUTCOME), `notes`
    and `defects` (codes of the catalogue) go on their assignment (`tasks.reviews`). A task
    that needs more reviews goes back to the queue with its age, never again to this
    person; one that has had them is COMPLETED with their outcome, or DISPUTED when they
    disagree (docs/engine.md, "Outcomes").

    Fenced: succeeds only while the task is in progress for that person, checked under the
    row locks. Locks the person, then the task, then (SKIP LOCKED) the next task. Repeating
    a complete that succeeded changes nothing and returns the task with the person's
    current task as next.

    Raises ValidationError (a verdict `tasks.reviews` refuses), NotFound (no such task),
    Forbidden (the task was never this person's), Conflict (not in progress for that
    person: released, reassigned, pending or never started).
    """
    verdict = reviews.verdict_clean(outcome, notes, defects)
    with transaction.atomic():
        target = person_id if person_id is not None else holder_id
        if target is None:
            # Unlocked peek: whose row to lock first (lock order: person, then task).
            peek = Task.objects.filter(pk=task_id).values("status", "assigned_to_id").first()
            if peek is None:
                raise NotFound(f"Task {task_id} does not exist.")
            target = peek["assigned_to_id"]
            if target is None:
                raise Conflict(f"Task {task_id} is not in progress.", code="task_not_in_progress")
        # The person (serialises with the sweep, logout and the assigner acting on them),
        # then the task (with anything releasing or completing it), in one round trip.
        person, task = sql.person_and_task_lock(target, task_id)
        if person is None:
            raise NotFound(f"Person {target} does not exist.")
        if task is None:
            raise NotFound(f"Task {task_id} does not exist.")
        if task.status == TaskStatus.IN_PROGRESS and task.assigned_to_id == person.pk:
            return _task_reviewed(task, person, verdict, acting_self=person_id is not None)
        if Assignment.objects.filter(
            task_id=task.pk, person_id=person.pk, end_reason=EndReason.COMPLETED
        ).exists():
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


def _task_reviewed(task: Task, person: Person, verdict, *, acting_self: bool) -> CompleteResult:
    """The review of a task in progress for `person` (both locked): close their assignment
    with the verdict; the task goes back to the queue for its next review, or is completed
    or disputed; the person gets their next task. Its events and counts are written with
    the next task's, in one statement each."""
    task.reviews_done += 1
    if task.reviews_required == 1 and task.reviews_done == 1 and reviews.audit_sampled():
        task.reviews_required, task.sampled = 2, True
    counts = {counters.COMPLETIONS: 1, **{counters.defects(code): 1 for code in verdict.defects}}
    if verdict.outcome:
        counts[counters.reviews(verdict.outcome)] = 1
    data: dict = {"outcome": verdict.outcome} if verdict.outcome else {}
    if task.reviews_done < task.reviews_required:
        # More reviews to come, each by someone else: never again to this person.
        task.status, task.assigned_to_id = TaskStatus.PENDING, None
        Exclusion.objects.bulk_create(
            [Exclusion(task_id=task.pk, person_id=person.pk, reason=ExclusionReason.REVIEWED)],
            # Declined before, then given to them by a supervisor: excluded already.
            ignore_conflicts=True,
        )
        event = EventType.TASK_REVIEWED
        data |= {"reviews_done": task.reviews_done, "reviews_required": task.reviews_required}
        counts[counters.SAMPLED] = int(task.sampled and task.reviews_done == 1)
    else:
        if task.reviews_required == 1:
            task.status, task.outcome = reviews.final([verdict.outcome])
        else:
            # The earlier reviews' verdicts, and this one's (written below).
            given = Assignment.objects.filter(task_id=task.pk, end_reason=EndReason.COMPLETED)
            earlier = list(given.values_list("outcome", flat=True))
            task.status, task.outcome = reviews.final([*earlier, verdict.outcome])
        if task.status == TaskStatus.DISPUTED:
            event, data = EventType.TASK_DISPUTED, {}
            counts[counters.DISPUTES] = 1
        else:
            event, data = (
                EventType.TASK_COMPLETED,
                ({"outcome": task.outcome} if task.outcome else {}),
            )
            counts[counters.outcomes(task.outcome)] = 1
    sql.review_write(
        task, person.pk, outcome=verdict.outcome, notes=verdict.notes, defects=verdict.defects
    )
    # The event: under the task lock (docs/events.md).
    events = [(event, task.pk, person.pk, task.external_id, data or None)]
    # The person's own complete is a sign of life; a supervisor's is not, and a holder whose
    # session expired gets no next task (the sweep will sign them out).
    next_task = None
    if acting_self or person.is_live:
        next_task = engine.next_task_give(
            person,
            source=AssignmentSource.COMPLETE,
            exclude=(task.pk,) if task.status == TaskStatus.PENDING else (),
            busy_already=True,
            also_events=events,
            also_counts=counts,
        )
    if next_task is None:
        event_services.events_emit_each(events)
        counters.count_many(counts)
        Person.objects.filter(pk=person.pk).update(
            is_busy=False,
            idle_since=Now(),
            **({"last_heartbeat": Now()} if acting_self else {}),
        )
    elif acting_self and _sign_of_life_due(person):
        sql.person_sign_in(person, now=person.db_now, new_session=False, busy=False)
    return CompleteResult(task=task, next_task=next_task)


# A person working fast completes every few seconds; their heartbeat matters only against
# QC_HEARTBEAT_TIMEOUT (90 s by default). A complete records a sign of life when the last
# is older than this (or a tenth of the timeout, if less): one write fewer for most
# completes of a fast worker (docs/benchmarks.md, "Complete"), little of the timeout lost.
SIGN_OF_LIFE_EVERY = timedelta(seconds=5)


def _sign_of_life_due(person: Person) -> bool:
    seen = person.last_heartbeat
    every = min(SIGN_OF_LIFE_EVERY, timedelta(seconds=settings.QC_HEARTBEAT_TIMEOUT) / 10)
    return seen is None or person.db_now - seen >= every


@dataclass
class DeclineResult:
    task: Task
    next_task: Task | None
    changed: bool = True


@retry_transaction
def task_decline(
    *, task_id: int, reason: str, person_id: int | None = None, actor=None
) -> DeclineResult:
    """The person it is in progress for hands a task back, saying why: it goes back to the
    queue with its age and place, is never offered to that person again by any automatic
    path, and the person gets their next task (docs/engine.md, "Routing").

    `person_id` is the person declining (a QC person acting for themselves); None means
    whoever holds it, with `actor` the supervisor acting for them (recorded in the audit
    trail). Fenced like complete: only while the task is in progress for that person,
    checked under the row locks (person, then task, then the next task, SKIP LOCKED). The
    assignment ends DECLINED with the reason. Repeating a decline that succeeded changes
    nothing and answers with the task and the person's current task.

    Raises ValidationError (a blank or too long reason), NotFound, Forbidden (the task was
    never this person's), Conflict (not in progress for that person).
    """
    note = (reason or "").strip()
    if not note:
        raise ValidationError({"reason": ["Say why the task is declined."]})
    if len(note) > DECLINE_REASON_MAX_LENGTH:
        raise ValidationError({"reason": [f"At most {DECLINE_REASON_MAX_LENGTH} characters."]})
    with transaction.atomic():
        # Unlocked peek: which person row to lock first (lock order: person, then task).
        peek = Task.objects.filter(pk=task_id).values("status", "assigned_to_id").first()
        if peek is None:
            raise NotFound(f"Task {task_id} does not exist.")
        target = person_id if person_id is not None else peek["assigned_to_id"]
        if target is None:
            raise Conflict(f"Task {task_id} is not in progress.", code="task_not_in_progress")
        # Serialises with complete, the sweeps and the assigner acting on this person; the
        # exclusion is written under this lock, so a pick for them sees it or has finished.
        person = engine.person_lock(target)
        task = Task.objects.select_for_update().get(pk=task_id)

        if task.status == TaskStatus.IN_PROGRESS and task.assigned_to_id == person.pk:
            engine.tasks_release([person.pk], reason=EndReason.DECLINED, note=note)
            Exclusion.objects.bulk_create(
                [Exclusion(task_id=task.pk, person_id=person.pk, reason=ExclusionReason.DECLINED)],
                ignore_conflicts=True,  # declined before, then given to them by a supervisor
            )
            acting_self = person_id is not None
            Person.objects.filter(pk=person.pk).update(
                is_busy=False,
                idle_since=Now(),
                **({"last_heartbeat": Now()} if acting_self else {}),
            )
            if not acting_self:
                engine.audit(
                    actor, AuditAction.DECLINE, person_id=person.pk, task_id=task.pk, detail=note
                )
            next_task = None
            if acting_self or person.is_live:
                next_task = engine.next_task_give(
                    person, source=AssignmentSource.DECLINE, exclude=(task.pk,)
                )
            task.status, task.assigned_to_id = TaskStatus.PENDING, None
            return DeclineResult(task=task, next_task=next_task)

        if Exclusion.objects.filter(
            task_id=task.pk, person_id=person.pk, reason=ExclusionReason.DECLINED
        ).exists():
            # The same decline again (a retry after a lost response): answer as before.
            current = Task.objects.filter(in_progress_person=person.pk).first()
            return DeclineResult(task=task, next_task=current, changed=False)

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


# The task fields a supervisor may change while the task waits (the routing, the reviews it
# needs), and always (the description).
ROUTING_FIELDS = ("priority", "skill", "max_handle_seconds", "expires_at")
PENDING_FIELDS = (*ROUTING_FIELDS, "reviews_required")


@retry_transaction
def task_update(*, actor, task_id: int, changes: dict) -> Task:
    """A supervisor changes a task: its routing (`ROUTING_FIELDS`) while it is pending, its
    description while it is open. Writes only the fields that change, under the task's
    lock (so it cannot undo an assignment made meanwhile), recorded in the audit trail.

    Raises NotFound, Conflict (routing of a task that is not pending; any change to a
    closed task), ValidationError with field errors (`tasks.routing`, description limits).
    """
    unknown = set(changes) - {*PENDING_FIELDS, "description"}
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    with transaction.atomic():
        # Only the task row: nobody holds a pending task (lock order: docs/engine.md).
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            raise NotFound(f"Task {task_id} does not exist.")
        changed = {name: value for name, value in changes.items() if getattr(task, name) != value}
        if "skill" in changed:
            try:
                changed["skill"] = routing.skill_clean(changed["skill"])
            except ValidationError as exc:
                raise ValidationError({"skill": exc.messages}) from exc
            if changed["skill"] == task.skill:
                del changed["skill"]
        if not changed:
            return task
        routed = [name for name in changed if name in PENDING_FIELDS]
        if routed and task.status != TaskStatus.PENDING:
            raise Conflict(
                f"Task {task_id} is {task.get_status_display().lower()}: its "
                f"{', '.join(routed)} can change only while it waits in the queue.",
                code="task_not_pending",
            )
        if task.status not in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS):
            raise Conflict(f"Task {task_id} is {task.get_status_display().lower()}.")
        if "reviews_required" in changed:
            problem = reviews.reviews_required_problem(changed["reviews_required"])
            if problem is None and changed["reviews_required"] <= task.reviews_done:
                problem = (
                    f"It has had {task.reviews_done} reviews already: more than that, or leave it."
                )
            if problem:
                raise ValidationError({"reviews_required": [problem]})
        if any(name in ROUTING_FIELDS for name in routed):
            problems = routing.routing_problems(
                **{
                    name: changed.get(name, getattr(task, name))
                    for name in ("priority", "skill", "max_handle_seconds")
                },
                expires_at=changed.get("expires_at"),
                now=db_now() if changed.get("expires_at") else None,
            )
            if problems:
                raise ValidationError(problems)
        if "description" in changed:
            changed["description"] = (changed["description"] or "").strip()
            problem = _description_problem(changed["description"])
            if problem:
                raise ValidationError({"description": [problem]})
        detail = "; ".join(
            f"{name}: {_shown(getattr(task, name))} → {_shown(value)}"
            for name, value in changed.items()
            if name != "description"
        )
        if "description" in changed:
            detail = "; ".join(filter(None, [detail, "description changed"]))
        Task.objects.filter(pk=task.pk).update(**changed)
        for name, value in changed.items():
            setattr(task, name, value)
        engine.audit(actor, AuditAction.TASK_EDIT, task_id=task.pk, detail=detail)
    return task


def _shown(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)

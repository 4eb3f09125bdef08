"""The assigner: the stale sweep, the batch that pairs free people with waiting tasks, and
the cycle `run_assigner` repeats, with its bookkeeping (`qc_assigners`).

Several assigners may run at once (and beside every web worker): each locking read skips
rows another transaction holds (SKIP LOCKED), so they take disjoint rows and never wait on
each other (docs/engine.md).
"""

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Now

from personnel.models import Person
from qcproject.db import retry_transaction
from qcproject.faults import fault_point

from . import engine, sql
from .models import AssignerInstance, AssignmentSource, EndReason, Task


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
        released = engine.people_sign_out(person_ids, reason=EndReason.STALE)
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
            .live()
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:waiting]
        )
        if not person_ids:
            return []
        fault_point("assign.after_lock_people")
        # Then task rows: prevents two assigners from giving one task to two people.
        rows = engine.tasks_pick(limit=len(person_ids))
        task_ids = [row[0] for row in rows]
        fault_point("assign.after_lock_tasks")
        pairs = list(zip(person_ids, task_ids, strict=False))  # fewer tasks than people
        if pairs:
            engine.tasks_assign(pairs, source=source, external_ids=sql.task_external_ids(rows))
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

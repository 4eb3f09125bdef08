"""The assigner: the stale sweep, the batch that pairs free people with waiting tasks, the
cycle `run_assigner` repeats, and the registry of running assigners (`qc_assigners`).

Several assigners may run at once (and beside every web worker): each locking read skips
rows another transaction holds (SKIP LOCKED), so they take disjoint rows and never wait on
each other (docs/engine.md).
"""

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Now

from personnel.models import Person
from qcproject.db import retry_transaction
from qcproject.faults import fault_point

from . import engine, selectors, sql
from .models import AssignerInstance, AssignmentSource, EndReason, Task

logger = logging.getLogger(__name__)


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
        # Passed on every cycle, outside any transaction: where the reliability suite makes
        # an expected assigner fault certain (chaos/harness.py, `insist`).
        fault_point("assign.before_batch")
        result.assigned = assignment_assign(stop=stop)
    return result


# --- the registry of running assigners (`qc_assigners`), for /metrics and the dashboard ---
#
# Each `run_assigner` reports under a stable name (`--name`, the systemd instance name; by
# default the host name), so a restart continues the same Prometheus series instead of
# starting a new one. A clean stop deletes the row; a process that died leaves it, its last
# cycle growing old (the "assigner down" alert), until a process takes the name again or the
# row is older than QC_ASSIGNER_STALE_AFTER and is no longer shown (then pruned).

# A holder on another host counts as alive while it reported within this long (for a
# holder on this host, whether its process exists decides).
OTHER_HOST_ALIVE = timedelta(minutes=2)
# How many "<host>-2", "<host>-3"… a default name tries before giving up.
MAX_DEFAULT_SUFFIX = 64


def this_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def default_name() -> str:
    return socket.gethostname()


def _holder_alive(instance: AssignerInstance, *, me: str) -> bool:
    if not instance.holder or instance.holder == me:
        return False
    host, _, pid = instance.holder.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # exists, another user's
        return True
    return (
        AssignerInstance.objects.filter(pk=instance.pk)
        .alias(seen=selectors.last_seen())
        .filter(seen__gte=Now() - Value(OTHER_HOST_ALIVE))
        .exists()
    )


@dataclass
class Claim:
    name: str
    took_over: str = ""  # the previous holder, when the row was taken over


def assigner_claim(*, name: str | None = None) -> Claim:
    """Register this process as the assigner `name` and return the name it reports under.

    An explicit name is taken whoever held it (a restarted unit takes its own row back);
    when its holder still looks alive, a warning is logged, as the two would share one
    series. Without a name the host name is used, or the first of "<host>-2", "<host>-3"…
    that no live process on this host holds, so several assigners on one host each get a
    series of their own. Rows older than QC_ASSIGNER_STALE_AFTER are deleted first.
    """
    selectors.assigners_stale().delete()
    me = this_holder()
    if name:
        forced = _take(name, me, force=True)
        assert forced is not None, "a forced take always ends with the name taken"
        return forced
    base = default_name()
    for n in range(1, MAX_DEFAULT_SUFFIX + 1):
        claim = _take(base if n == 1 else f"{base}-{n}", me, force=False)
        if claim is not None:
            return claim
    raise RuntimeError(f"{MAX_DEFAULT_SUFFIX} assigners already run on this host")


def _take(name: str, me: str, *, force: bool) -> Claim | None:
    while True:
        current = AssignerInstance.objects.filter(name=name).first()
        if current is None:
            try:
                with transaction.atomic():
                    AssignerInstance.objects.create(name=name, holder=me)
            except IntegrityError:
                continue  # another process created it first: look again
            return Claim(name=name)
        alive = _holder_alive(current, me=me)
        if alive and not force:
            return None
        if alive:
            logger.warning(
                "assigner name %r is held by %s, which looks alive: two processes report as "
                "one; give each its own --name",
                name,
                current.holder,
            )
        # Compare and swap on the holder: of two processes taking one row, one wins.
        taken = AssignerInstance.objects.filter(pk=current.pk, holder=current.holder).update(
            holder=me, started_at=Now(), last_cycle_at=None, last_cycle_seconds=0
        )
        if taken:
            return Claim(name=name, took_over=current.holder)


def assigner_report(*, name: str, seconds: float, assigned: int, released: int) -> None:
    """Record one finished cycle of this assigner (one UPDATE, on the database's clock);
    re-register when the row is gone (pruned, or the table emptied)."""
    updated = AssignerInstance.objects.filter(name=name).update(
        holder=this_holder(),
        last_cycle_at=Now(),
        last_cycle_seconds=seconds,
        cycles=F("cycles") + 1,
        assigned_total=F("assigned_total") + assigned,
        released_total=F("released_total") + released,
    )
    if not updated:
        _take(name, this_holder(), force=True)
        assigner_report(name=name, seconds=seconds, assigned=assigned, released=released)


def assigner_release(*, name: str) -> bool:
    """Forget this assigner on a clean stop (its series ends with it). Only this process's
    row: a name another process took over meanwhile stays. Returns whether a row went."""
    deleted, _ = AssignerInstance.objects.filter(
        Q(holder=this_holder()) | Q(holder=""), name=name
    ).delete()
    return bool(deleted)

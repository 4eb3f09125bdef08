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
from django.db.models import (
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Now

from events import services as event_services
from events.models import EventType
from personnel.models import Person
from qcproject.db import retry_transaction
from qcproject.faults import fault_point

from . import counters, engine, selectors, sql
from .models import (
    AssignerInstance,
    Assignment,
    AssignmentSource,
    EndReason,
    Task,
    TaskStatus,
)

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
def assignment_time_out(*, limit: int | None = None) -> list[tuple[int, int]]:
    """Take back up to `limit` tasks in progress for longer than their time limit (the
    task's `max_handle_seconds`, or QC_MAX_HANDLE_TIME; 0: none), on the database's clock.

    Each goes back to the queue (TIMED_OUT, its place kept) and its holder moves on to
    another task at once, if their session is live: not the same one. Finds the candidates
    unlocked through the open assignments, then locks their people (SKIP LOCKED: one busy
    in another transaction waits for the next cycle), then their tasks, and decides again
    under the locks. Returns the (person id, task id) pairs taken back.
    """
    limit = limit or settings.QC_ASSIGN_BATCH_SIZE
    with transaction.atomic():
        overdue = dict(_overdue(limit=limit))
        if not overdue:
            return []
        people = sql.people_lock(overdue, skip_locked=True)
        if not people:
            return []
        # Under the locks (READ COMMITTED reads the latest rows): still the same task,
        # still over its limit; a complete that committed first has moved the person on.
        # Their tasks are locked next, by `tasks_release`, and cannot change hands without
        # their people's locks.
        still = dict(_overdue(limit=limit, person_ids=sorted(people)))
        taken = sorted(
            (person_id, task_id)
            for person_id, task_id in still.items()
            if overdue.get(person_id) == task_id
        )
        if not taken:
            return []
        released = engine.tasks_release([p for p, _ in taken], reason=EndReason.TIMED_OUT)
        freed = [people[p] for p, _ in taken]
        Person.objects.filter(pk__in=[p.pk for p in freed]).update(is_busy=False, idle_since=Now())
        engine.people_give_next(
            sorted((p for p in freed if p.is_live), key=lambda p: p.pk),
            source=AssignmentSource.ASSIGNER,
            exclude=tuple(released),
        )
    return taken


def _overdue(*, limit: int, person_ids=None) -> list[tuple[int, int]]:
    """(person id, task id) of tasks in progress past their time limit, on the database's
    clock: the tasks in progress (index `qc_tasks_queue`), each with its open assignment
    (the unique `open_task`)."""
    seconds = Coalesce(
        F("max_handle_seconds"), Value(settings.QC_MAX_HANDLE_TIME), output_field=IntegerField()
    )
    limit_duration = ExpressionWrapper(F("limit_seconds") * 1_000_000, output_field=DurationField())
    opened = Assignment.objects.filter(open_task=OuterRef("pk")).values("assigned_at")[:1]
    rows = (
        Task.objects.filter(status=TaskStatus.IN_PROGRESS)
        .annotate(limit_seconds=seconds, opened_at=Subquery(opened))
        .filter(limit_seconds__gt=0, opened_at__lte=Now() - limit_duration)
    )
    if person_ids is not None:
        rows = rows.filter(assigned_to_id__in=person_ids)
    return list(rows.order_by().values_list("assigned_to_id", "id")[:limit])


@retry_transaction
def assignment_expire(*, limit: int | None = None) -> list[int]:
    """Close up to `limit` pending tasks whose `expires_at` has passed (the database's
    clock): EXPIRED, out of the queue, counted. Locks only those task rows (SKIP LOCKED:
    one being taken right now is left to that transaction, whose pick refuses it).
    Returns their ids."""
    limit = limit or settings.QC_ASSIGN_BATCH_SIZE
    with transaction.atomic():
        locked = sql.tasks_lock_expired(limit=limit)
        task_ids = [task_id for task_id, _ in locked]
        if task_ids:
            Task.objects.filter(pk__in=task_ids).update(status=TaskStatus.EXPIRED)
            # Events: one INSERT, under the task locks (docs/events.md).
            event_services.events_emit_for_tasks(
                EventType.TASK_EXPIRED,
                [(task_id, None, external_id) for task_id, external_id in locked],
            )
            counters.count(counters.EXPIRED, len(task_ids))
    return task_ids


@dataclass
class _Batch:
    pairs: list[tuple[int, int]]
    # The people the batch locked and found nothing for (their skills, or declines): the
    # next batch of the same round looks past them.
    unserved: list[int] = field(default_factory=list)
    more_people: bool = False  # it locked as many people as it might: more may be free
    tasks_left: bool = False  # some waiting tasks went to nobody


@retry_transaction
def _assign_batch(*, limit: int, source: str, skip: tuple[int, ...] = ()) -> _Batch:
    with transaction.atomic():
        # Lock no more people than there are tasks for (an unlocked, bounded look): every
        # person row locked here makes that person's heartbeat, sign-in and sign-out wait
        # for this transaction, which is long if this process stalls (found by the chaos
        # suite's SIGSTOP fault: a frozen assigner held every free person and starved the web).
        # Past people who could take none of them (`skip`: their skills), a batch looks at
        # a full batch of the next ones, so that a round passes over them in a few batches.
        waiting = len(Task.objects.pending().values_list("id", flat=True)[:limit])
        if not waiting:
            return _Batch([])
        cap = settings.QC_ASSIGN_BATCH_SIZE if skip else waiting
        # Person rows first: prevents two assigners from giving one person two tasks.
        people = list(
            Person.objects.free()
            .live()
            .exclude(pk__in=skip)
            .select_for_update(skip_locked=True)
            .annotate(db_now=Now())
            .values_list("id", "skills", "db_now")[:cap]
        )
        if not people:
            return _Batch([])
        fault_point("assign.after_lock_people")
        # Then task rows: prevents two assigners from giving one task to two people.
        takers = [engine.Taker(pk, frozenset(skills or ())) for pk, skills, _ in people]
        given = engine.tasks_pick(takers, now=people[0][2])
        fault_point("assign.after_lock_tasks")
        pairs = [(t.id, given[t.id][0]) for t in takers if t.id in given]
        if pairs:
            engine.tasks_assign(
                pairs, source=source, external_ids=sql.task_external_ids(given.values())
            )
        fault_point("assign.after_writes")
    fault_point("assign.after_commit")
    return _Batch(
        pairs,
        unserved=[t.id for t in takers if t.id not in given],
        more_people=len(people) == cap,
        tasks_left=len(pairs) < waiting,
    )


def assignment_assign_batch(
    *, limit: int | None = None, source: str = AssignmentSource.ASSIGNER
) -> list[tuple[int, int]]:
    """Pair up to `limit` free, live people with waiting tasks, in one transaction.

    Longest idle person first gets their best task (the pick: `engine.tasks_pick`). Both
    locking reads SKIP LOCKED, so several assigners (and completes, sign-ins) take
    disjoint rows and never wait on each other. Returns the (person id, task id) pairs
    assigned.
    """
    return _assign_batch(limit=limit or settings.QC_ASSIGN_BATCH_SIZE, source=source).pairs


def assignment_assign(
    *,
    limit: int | None = None,
    source: str = AssignmentSource.ASSIGNER,
    stop: threading.Event | None = None,
) -> int:
    """Assign as many pairs as there are, batch after batch; stop between transactions.

    A batch whose people could not take some of the waiting tasks (skills, declines) is
    followed by one of the next free people, until they run out.
    """
    batch = settings.QC_ASSIGN_BATCH_SIZE
    remaining = limit
    assigned = 0
    unserved: list[int] = []
    while remaining is None or remaining > 0:
        size = batch if remaining is None else min(batch, remaining)
        result = _assign_batch(limit=size, source=source, skip=tuple(unserved))
        assigned += len(result.pairs)
        unserved += result.unserved
        if remaining is not None:
            remaining -= len(result.pairs)
        if stop is not None and stop.is_set():
            break
        if len(result.pairs) == size:
            continue
        if not (result.unserved and result.more_people and result.tasks_left):
            break
    return assigned


@dataclass
class CycleResult:
    signed_out: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    assigned: int = 0

    def __bool__(self):
        return bool(
            self.signed_out or self.released or self.timed_out or self.expired or self.assigned
        )


def _stopped(stop) -> bool:
    return stop is not None and stop.is_set()


def assignment_cycle(*, stop: threading.Event | None = None) -> CycleResult:
    """One assigner cycle: sign out stale sessions, take back tasks over their time limit,
    close expired tasks, then assign all that can be assigned.

    Each step runs in short transactions of at most QC_ASSIGN_BATCH_SIZE rows; `stop` is
    checked between them, never inside one.
    """
    result = CycleResult()
    batch = settings.QC_ASSIGN_BATCH_SIZE
    while not _stopped(stop):
        signed_out, released = assignment_sweep_stale(limit=batch)
        result.signed_out += signed_out
        result.released += released
        if len(signed_out) < batch:
            break
    while not _stopped(stop):
        taken = assignment_time_out(limit=batch)
        result.timed_out += [task_id for _, task_id in taken]
        if len(taken) < batch:
            break
    while not _stopped(stop):
        expired = assignment_expire(limit=batch)
        result.expired += expired
        if len(expired) < batch:
            break
    if not _stopped(stop):
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

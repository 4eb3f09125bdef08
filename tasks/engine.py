"""The rules every path that hands out or takes back work shares, each written once.

Sign-in and sign-out (`tasks.sessions`), complete (`tasks.services`), the supervisors'
interventions (`tasks.interventions`) and the assigner (`tasks.assigner`) are made of these
building blocks. Each runs inside the caller's transaction; the lock functions take the
locks in the one order of the code base (docs/engine.md, "Lock order"): **person rows (in
id order), then task rows, then counter rows**; assignment rows are written by key after
both.
"""

import heapq
import itertools
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Now

from events import services as event_services
from events.models import EventType
from personnel.models import Person
from qcproject import rawsql
from qcproject.exceptions import Conflict, NotFound

from . import counters, routing, sql
from .models import (
    MAX_PRIORITY,
    TAKEN_BACK_REASONS,
    Assignment,
    AssignmentSource,
    AuditEvent,
    EndReason,
    Task,
    TaskStatus,
)

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


@dataclass(frozen=True)
class Taker:
    """A person the pick serves: locked by the caller, signed in and free."""

    id: int
    skills: frozenset[str]

    @classmethod
    def of(cls, person: Person) -> "Taker":
        return cls(person.pk, frozenset(person.skills or ()))


class _Group:
    """One index range the pick reads: the pending tasks of one (priority, skill), or of one
    priority and any skill once relaxed, in queue order. Within it the tasks' rank falls
    from the first to the last (same priority, older first), so its first task not yet
    taken is its best, and a task it has not read yet ranks below the last it read."""

    __slots__ = ("read", "items", "pos", "full", "eligible", "after")

    def __init__(self, read: sql.GroupRead):
        self.read = read
        self.items: list[tuple] = []  # (rank key, task id), in queue order
        self.after: int | None = None  # the last task read: the next read starts after it
        self.pos = 0  # items before it are taken
        self.full = True  # the last read returned all it asked for: more may wait
        self.eligible = 0  # takers who may take from it

    def head(self, taken):
        """The first task read and not taken, or None."""
        items = self.items
        i, n = self.pos, len(items)
        while i < n and items[i][1] in taken:
            i += 1
        self.pos = i
        return items[i] if i < n else None

    def bound(self, taken):
        """The rank key that the group's best task not taken is at or below (its first task
        read and not taken; past those, the last read, if more may wait), or None."""
        head = self.head(taken)
        if head is not None:
            return head[0]
        return self.items[-1][0] if self.full and self.items else None


class _Pick:
    """The pick's state: the groups read so far, what is taken, and per set of skills a
    heap of its groups by the rank of their best task (docs/engine.md, "Routing", the
    pick)."""

    # Rounds of locking: a task taken by another transaction between the read and the lock
    # sends its person to their next best. Each miss is a task another transaction holds or
    # has just taken, so misses are bounded by the transactions running at once; the bound
    # here only guards against the unforeseen (the person then waits for the next cycle).
    LOCK_ROUNDS = 16

    def __init__(self, takers: list[Taker], *, now, exclude):
        self.takers = takers
        self.now_us = int(now.timestamp() * 1_000_000)
        self.cutoff = routing.relax_cutoff(now)
        self.exclude = tuple(exclude)
        self.taken = set(self.exclude)
        # (task, person) pairs found excluded when their tasks were chosen.
        self.excluded: set[tuple[int, int]] = set()
        self.groups: dict[tuple, _Group] = {}
        self.of_skills: dict[frozenset, list[_Group]] = {}
        self.heaps: dict[frozenset, list] = {}
        self.serial = itertools.count()
        for taker in takers:
            if taker.skills not in self.of_skills:
                self.of_skills[taker.skills] = [
                    self._group(key) for key in self._keys(taker.skills)
                ]
            for group in self.of_skills[taker.skills]:
                group.eligible += 1

    def _keys(self, skills):
        for priority in range(MAX_PRIORITY, -1, -1):
            for skill in (None, *sorted(skills)):
                yield (priority, skill, False)
            if self.cutoff is not None:
                yield (priority, None, True)

    def _group(self, key) -> _Group:
        if key not in self.groups:
            priority, skill, relaxed = key
            self.groups[key] = _Group(sql.GroupRead(len(self.groups), priority, skill, relaxed))
        return self.groups[key]

    def _read(self, groups: list[_Group], limits: list[int]) -> None:
        reads = []
        for group, limit in zip(groups, limits, strict=True):
            read = group.read
            reads.append(
                sql.GroupRead(
                    read.index, read.priority, read.skill, read.relaxed, limit, group.after
                )
            )
        rows = sql.tasks_heads(reads, exclude=self.exclude, cutoff=self.cutoff)
        by_index = {read.index: group for read, group in zip(reads, groups, strict=True)}
        found = dict.fromkeys(by_index, 0)
        now_us, aged = self.now_us, routing.aged_priority
        for index, task_id, created_us in rows:
            group = by_index[index]
            rank = -aged(group.read.priority, (now_us - created_us) / 1_000_000)
            group.items.append(((rank, created_us, task_id), task_id))
            group.after = task_id
            found[index] += 1
        for read in reads:
            by_index[read.index].full = found[read.index] == read.limit

    def _best(self, taker: Taker):
        """The taker's best task not taken: the top of their skills' heap, kept true lazily
        (a group whose first task was taken meanwhile goes back with its new rank; a group
        at the top that ran out of tasks read while more may wait reads on). The hottest
        loop of a batch: `_Group.head` and `bound` written out."""
        heap = self.heaps.get(taker.skills)
        taken = self.taken
        if heap is None:
            groups = self.of_skills[taker.skills]
            heap = [(g.bound(taken), next(self.serial), g) for g in groups]
            heap = [entry for entry in heap if entry[0] is not None]
            heapq.heapify(heap)
            self.heaps[taker.skills] = heap
        while heap:
            key, _, group = heap[0]
            items = group.items
            i, n = group.pos, len(items)
            while i < n and items[i][1] in taken:
                i += 1
            group.pos = i
            if i < n:
                if items[i][0] != key:
                    heapq.heapreplace(heap, (items[i][0], next(self.serial), group))
                elif self.excluded and (items[i][1], taker.id) in self.excluded:
                    return self._best_without_exclusions(taker)
                else:
                    return items[i]
            elif group.full and n:
                if items[-1][0] != key:  # the unread tasks rank below the last read
                    heapq.heapreplace(heap, (items[-1][0], next(self.serial), group))
                else:  # ... and may rank highest: read on
                    self._read([group], [max(group.eligible, 1)])
            else:
                heapq.heappop(heap)
        return None

    def _best_without_exclusions(self, taker: Taker):
        """`_best` for a taker some of whose best tasks are excluded for them (rare): their
        groups one by one, passing over those tasks."""
        groups = self.of_skills[taker.skills]
        while True:
            best, short = None, []
            for group in groups:
                group.head(self.taken)
                items, i = group.items, group.pos
                while i < len(items) and (
                    items[i][1] in self.taken or (items[i][1], taker.id) in self.excluded
                ):
                    i += 1
                if i < len(items):
                    if best is None or items[i][0] < best[0]:
                        best = items[i]
                elif group.full and items:
                    short.append(group)
            # What a group has not read ranks below what it read last.
            short = [g for g in short if best is None or g.items[-1][0] < best[0]]
            if not short:
                return best
            self._read(short, [max(g.eligible, 1) for g in short])

    def _run_one(self, taker: Taker) -> dict[int, tuple]:
        """The pick of one person: the first task of each of their ranges, read unlocked
        (one statement), ranks the ranges; then the best range's first task nobody else
        holds is locked (`sql.task_lock_first_free`: a task another transaction is taking
        is passed over, and one excluded for this person too, in the same statement). That
        task is theirs if it still ranks at or above every other range's first task; else
        (the range's first task was being taken, and the next ranks lower) the range goes
        back with that task's rank and the best range is tried in turn. A task locked so
        and not given stays locked, unused, until the commit (rare: see docs/engine.md)."""
        groups = list(self.groups.values())
        self._read(groups, [1] * len(groups))
        ranks = {id(g): g.items[0][0] for g in groups if g.items}
        by_id = {id(g): g for g in groups}
        aged, now_us = routing.aged_priority, self.now_us
        for _ in range(self.LOCK_ROUNDS):
            if not ranks:
                break
            best = min(ranks, key=ranks.__getitem__)
            read = by_id[best].read
            row = sql.task_lock_first_free(
                read, person_id=taker.id, exclude=self.exclude, cutoff=self.cutoff
            )
            if row is None:
                del ranks[best]
                continue
            created_us, task_id = row[-1], row[0]
            key = (-aged(read.priority, (now_us - created_us) / 1_000_000), created_us, task_id)
            ranks[best] = key
            if key == min(ranks.values()):
                return {taker.id: row[:-1]}
        return {}

    def run(self) -> dict[int, tuple]:
        if not self.groups:
            return {}
        if len(self.takers) == 1:
            return self._run_one(self.takers[0])
        # A first read sized to the takers: a group rarely gives more than its share.
        share = max(1, -(-2 * len(self.takers) // len(self.groups)))
        groups = list(self.groups.values())
        self._read(groups, [min(g.eligible, share) for g in groups])
        given: dict[int, tuple] = {}
        todo = list(self.takers)
        skill, created = sql.TASK_ROW["skill"], sql.TASK_ROW["created_at"]
        db = rawsql.db()
        for _ in range(self.LOCK_ROUNDS):
            chosen = {}
            for taker in todo:
                best = self._best(taker)
                if best is not None:
                    chosen[taker.id] = best[1]
                    self.taken.add(best[1])
            if not chosen:
                break
            # Exclusions are rare: read for the tasks chosen, not for every task read. A
            # taker whose choice is excluded for them chooses again in the next round.
            excluded = sql.task_exclusions(chosen.values()) & {
                (task_id, taker_id) for taker_id, task_id in chosen.items()
            }
            wanted = [t for p, t in chosen.items() if (t, p) not in excluded]
            locked = {row[0]: row for row in sql.tasks_lock_pending(wanted)}
            self.excluded |= excluded
            missed = []
            for taker in todo:
                row = locked.get(chosen.get(taker.id))
                if row is not None and routing.may_take(
                    taker.skills,
                    task_skill=row[skill],
                    created_at=rawsql.datetime_from_db(db, row[created]),
                    cutoff=self.cutoff,
                ):
                    given[taker.id] = row
                elif taker.id in chosen:
                    missed.append(taker)
            todo = missed
            if not todo:
                break
        return given


def tasks_pick(takers: list[Taker], *, now, exclude=()) -> dict[int, tuple]:
    """Choose and lock the next task of each taker (people the caller has locked, signed in
    and free), longest idle first: the one pick of every path that hands out work; one
    taker is a batch of one.

    Each taker gets the best task they may take (their skills, or relaxed; not excluded for
    them; not expired; not in `exclude`; not given to an earlier taker), by effective
    priority, then age (`tasks.routing`; `now` is the database's clock at the callers'
    lock). The tasks are read unlocked, then locked by key (SKIP LOCKED); a task another
    transaction took meanwhile sends its taker to their next best. Returns the locked task
    rows by taker id (`sql.task_from_row` makes a Task); a taker with nothing to take is
    left out.
    """
    return _Pick(takers, now=now, exclude=exclude).run()


# How an assignment's source is named in its event, `task.assigned` (docs/events.md).
EVENT_PATHS: dict[str, str] = {
    AssignmentSource.LOGIN: "sign_in",
    AssignmentSource.COMPLETE: "complete",
    AssignmentSource.ASSIGNER: "assigner",
    AssignmentSource.NEW_TASK: "new_task",
    AssignmentSource.SUPERVISOR: "reassign",
}


def tasks_hand_over(
    pairs: list[tuple[int, int]],
    *,
    source: str,
    external_ids: dict,
    now=None,
    also_events=(),
    also_counts=None,
) -> None:
    """Give each (person, task) pair's task to its person, counted, with its event.
    `external_ids` maps each task id to its `external_id` (for the event). The caller holds
    the locks on every person row, then every task row, of `pairs`, and has marked the
    people busy (`tasks_assign` does both).

    `also_events` (as `events_emit_each` takes them) and `also_counts` (name → n) are the
    caller's, written in the same statements, before these (a complete's: one INSERT of
    events and one counting statement for the completion and the next task)."""
    sql.tasks_hand_over(pairs, source=source, now=now)
    # Events: one INSERT for the batch, under the task locks (docs/events.md).
    path = {"path": EVENT_PATHS.get(source, source.lower())}
    event_services.events_emit_each(
        [
            *also_events,
            *(
                (EventType.TASK_ASSIGNED, task_id, person_id, external_ids.get(task_id), path)
                for person_id, task_id in pairs
            ),
        ]
    )
    counts = dict(also_counts or {})
    name = counters.assignments(source)
    counts[name] = counts.get(name, 0) + len(pairs)
    counters.count_many(counts)


def tasks_assign(
    pairs: list[tuple[int, int]], *, source: str, external_ids: dict, busy_already=False, **also
) -> None:
    """Mark the people of `pairs` busy (unless they are already: a complete's) and hand each
    their task (locks as `tasks_hand_over`; `also`: its `also_events`, `also_counts`)."""
    if not busy_already:
        sql.people_busy([person_id for person_id, _ in pairs])
    tasks_hand_over(pairs, source=source, external_ids=external_ids, **also)


def next_task_give(
    person: Person, *, source: str, exclude: tuple[int, ...] = (), busy_already=False, **also
) -> Task | None:
    """Give this person, who is signed in and free and whose row the caller has locked (with
    `db_now`, by `person_lock`), the next task (other than `exclude`). Returns it, or None
    when nothing waits for them (and then `also`, the caller's events and counts for
    `tasks_hand_over`, are not written: the caller writes them). With `busy_already` the
    person's row says busy already (their task was completed just now) and is left so."""
    row = tasks_pick([Taker.of(person)], now=person.db_now, exclude=exclude).get(person.pk)
    if row is None:
        return None
    task = sql.task_from_row(row)
    tasks_assign(
        [(person.pk, task.pk)],
        source=source,
        external_ids={task.pk: task.external_id},
        busy_already=busy_already,
        **also,
    )
    task.status = TaskStatus.IN_PROGRESS
    task.assigned_to_id = person.pk
    return task


def people_give_next(people: list[Person], *, source: str, exclude=()) -> list[tuple[int, int]]:
    """Give each of these people (locked by the caller, signed in and free; longest idle
    first) their next task, other than `exclude`, in one pick. Returns the pairs given."""
    if not people:
        return []
    given = tasks_pick([Taker.of(p) for p in people], now=people[0].db_now, exclude=exclude)
    pairs = [(p.pk, given[p.pk][0]) for p in people if p.pk in given]
    if pairs:
        tasks_assign(pairs, source=source, external_ids=sql.task_external_ids(given.values()))
    return pairs


def reconnect_row(person: Person, *, released: list[int]) -> tuple | None:
    """The task a stale session of this person released, locked, when the person is
    starting a new session within QC_RECONNECT_GRACE seconds of it (on the database's
    clock) and the task still waits and may go to them; else None. `released` is what this
    transaction's own sign-out of that session released, if it did. Nobody waited for the
    person meanwhile: the task was free for others the whole time, and a task another
    transaction is taking now is passed over (SKIP LOCKED)."""
    grace = settings.QC_RECONNECT_GRACE
    if not grace:
        return None
    if released:
        task_id = released[0]
    elif (
        person.signed_out_reason == EndReason.STALE
        and person.last_release_reason == EndReason.STALE
        and person.last_release_task_id is not None
        and person.last_release_at is not None
        and person.last_release_at >= person.db_now - timedelta(seconds=grace)
    ):
        task_id = person.last_release_task_id
    else:
        return None
    rows = sql.tasks_lock_pending([task_id])
    if not rows:
        return None
    row = rows[0]
    if not routing.may_take(
        person.skills or (),
        task_skill=row[sql.TASK_ROW["skill"]],
        created_at=rawsql.datetime_from_db(rawsql.db(), row[sql.TASK_ROW["created_at"]]),
        cutoff=routing.relax_cutoff(person.db_now),
    ) or (task_id, person.pk) in sql.task_exclusions([task_id]):
        return None
    return row


def holder_free(person: Person, *, exclude: tuple[int, ...]) -> Task | None:
    """The holder lost their task to an intervention: free them, and if their session is
    live, give them another task at once (not the one just taken from them)."""
    Person.objects.filter(pk=person.pk).update(is_busy=False, idle_since=Now())
    if person.is_live:
        return next_task_give(person, source=AssignmentSource.ASSIGNER, exclude=exclude)
    return None


# --- taking work back ---

# The event of a task taken back, by the reason, when it is not `task.released`.
RELEASE_EVENTS: dict[str, str] = {
    EndReason.DECLINED: EventType.TASK_DECLINED,
    EndReason.TIMED_OUT: EventType.TASK_TIMED_OUT,
}


def tasks_release(person_ids: list[int], *, reason: str, note: str = "") -> list[int]:
    """Put the in-progress tasks of these people back in the queue; close their assignments
    with `reason` (and, for a decline, the person's `note`); record each task's event (a
    decline's and a time-out's have their own types, `RELEASE_EVENTS`). The caller holds
    the person row locks. A released task keeps its `created_at`, so it goes back to its
    place in the queue, not to the end; a task taken back by the engine or a supervisor
    (`TAKEN_BACK_REASONS`) becomes its holder's `last_release`. Returns the released task
    ids."""
    # The tasks after their people (lock order), found through the unique
    # `in_progress_person` index.
    held = list(
        Task.objects.in_progress_for(person_ids)
        .select_for_update()
        .order_by("id")
        .values_list("id", "assigned_to_id", "external_id")
    )
    task_ids = [task_id for task_id, _, _ in held]
    if task_ids:
        # Events: one INSERT, under the task locks (docs/events.md).
        event_services.events_emit_for_tasks(
            RELEASE_EVENTS.get(reason, EventType.TASK_RELEASED),
            held,
            data={"reason": reason.lower()},
        )
        if reason in TAKEN_BACK_REASONS:
            # Each holder's `last_release` is the task in progress, read before it is released.
            Person.objects.filter(pk__in=[holder for _, holder, _ in held]).update(
                last_release_task_id=Subquery(
                    Task.objects.filter(in_progress_person=OuterRef("pk")).values("id")[:1]
                ),
                last_release_reason=reason,
                last_release_at=Now(),
            )
        Task.objects.filter(pk__in=task_ids).update(status=TaskStatus.PENDING, assigned_to=None)
        Assignment.objects.filter(open_task__in=task_ids).update(
            ended_at=Now(), end_reason=reason, **({"decline_reason": note} if note else {})
        )
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

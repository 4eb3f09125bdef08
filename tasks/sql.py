"""The engine's hot statements, written by hand, each once (the machinery and the reasons:
`qcproject/rawsql.py`; the rules they implement: docs/engine.md).

Every statement runs inside the caller's transaction and takes only the locks the lock
order allows: person rows first (in id order), then task rows, then counter rows.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, models
from django.db.models.functions import Now, Trunc

from personnel.models import Person, session_live
from qcproject import rawsql
from qcproject.rawsql import col, columns, per_database, placeholders, q, table

from .models import Assignment, Counter, Exclusion, Task, TaskStatus

# --- liveness: the one definition (personnel.models.session_live), compiled ---

# A timeout no one configures: compiled once into the statements' text, its parameter is
# found by value and replaced by the real timeout at each call.
_PROBE_SECONDS = 987_654


@per_database
def _live_sql() -> tuple[str, list, int]:
    """`session_live()` as the ORM compiles it (columns qualified by the person table): SQL,
    parameters, and the index of the timeout's parameter among them."""
    sql, params = rawsql.compiled_where(Person, session_live(_PROBE_SECONDS))
    found = [i for i, p in enumerate(params) if p == _PROBE_SECONDS * 1_000_000]
    assert len(found) == 1, "the liveness condition takes its timeout as one parameter"
    return sql, params, found[0]


def _live_params(db, timeout: int | None) -> list:
    _, params, index = _live_sql(db)
    seconds = settings.QC_HEARTBEAT_TIMEOUT if timeout is None else timeout
    params = list(params)
    params[index] = seconds * 1_000_000
    return params


# --- people ---


@per_database
def _heartbeat_sql() -> str:
    return (
        f"UPDATE {table(Person)} SET {col(Person, 'last_heartbeat')} = {rawsql.now_sql(connection)}"
        f" WHERE {table(Person)}.{col(Person, 'id')} = %s AND {_live_sql(connection)[0]}"
    )


def person_heartbeat(person_id: int, *, timeout: int | None = None) -> bool:
    """Refresh the heartbeat of a live session. False when there is none; the caller finds
    out why."""
    db = rawsql.db()
    return bool(rawsql.execute(db, _heartbeat_sql(db), [person_id, *_live_params(db, timeout)]))


@per_database
def _person_with_task_sql() -> str:
    return (
        f"SELECT {columns(connection, Person, 'p').sql}, {columns(connection, Task, 't').sql}"
        f" FROM {table(Person)} {q('p')} LEFT OUTER JOIN {table(Task)} {q('t')}"
        f" ON {col(Task, 'in_progress_person', 't')} = {col(Person, 'id', 'p')}"
        f" WHERE {col(Person, 'id', 'p')} = %s"
    )


def person_with_task(person_id: int) -> Person | None:
    """The person with `current_task` set (their in-progress task, or None), in one query
    through the unique `in_progress_person`; None for an unknown id."""
    db = rawsql.db()
    row = rawsql.fetchone(db, _person_with_task_sql(db), [person_id])
    if row is None:
        return None
    person, task = columns(db, Person, "p"), columns(db, Task, "t")
    found = person.instance(db, row)
    found.current_task = task.instance(db, row, person.width)
    if found.current_task is not None:
        Task._meta.get_field("assigned_to").set_cached_value(found.current_task, found)
    return found


@per_database
def _people_lock_sql(n: int, skip_locked: bool) -> str:
    person_id = f"{table(Person)}.{col(Person, 'id')}"
    return (
        f"SELECT {columns(connection, Person, Person._meta.db_table).sql}"
        f", ({_live_sql(connection)[0]}), {rawsql.now_sql(connection)}"
        f" FROM {table(Person)} WHERE {person_id} IN ({placeholders(range(n))})"
        f" ORDER BY {person_id}" + rawsql.for_update(skip_locked=skip_locked)
    )


def people_lock(
    person_ids, *, timeout: int | None = None, skip_locked: bool = False
) -> dict[int, Person]:
    """Lock these people's rows (FOR UPDATE, in id order: two transactions locking the same
    people cannot deadlock on them) and return them by id, each with `is_live` and
    `db_now`, the database's clock at the lock. Unknown ids are left out, and with
    `skip_locked` so are rows another transaction holds."""
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    db = rawsql.db()
    sql = _people_lock_sql(db, len(ids), skip_locked)
    return _people_locked(db, rawsql.fetchall(db, sql, [*_live_params(db, timeout), *ids]))


def person_and_task_lock(person_id: int, task_id: int) -> tuple[Person | None, Task | None]:
    """`people_lock` of one person, then that task's row (the lock order), in one round
    trip (`rawsql.fetchall_each`). None for an unknown id."""
    db = rawsql.db()
    people, tasks = rawsql.fetchall_each(
        db,
        [
            (_people_lock_sql(db, 1, False), [*_live_params(db, None), person_id]),
            (_task_lock_sql(db), [task_id]),
        ],
    )
    task = columns(db, Task, "t").instance(db, tasks[0]) if tasks else None
    return _people_locked(db, people).get(person_id), task


def _people_locked(db, rows) -> dict[int, Person]:
    person = columns(db, Person, Person._meta.db_table)
    found = {}
    for row in rows:
        p = person.instance(db, row)
        p.is_live = bool(row[person.width])
        p.db_now = rawsql.datetime_from_db(db, row[person.width + 1])
        found[p.pk] = p
    return found


@per_database
def _sign_in_sql(new_session: bool, busy: bool) -> str:
    assigned = [f"{col(Person, 'last_heartbeat')} = %s"]
    if new_session:
        assigned += [
            f"{col(Person, 'is_logged_in')} = %s",
            f"{col(Person, 'logged_in_at')} = %s",
            f"{col(Person, 'signed_out_reason')} = %s",
        ]
    if new_session or busy:
        assigned += [f"{col(Person, 'is_busy')} = %s", f"{col(Person, 'idle_since')} = %s"]
    return f"UPDATE {table(Person)} SET {', '.join(assigned)} WHERE {col(Person, 'id')} = %s"


def person_sign_in(person: Person, *, now, new_session: bool, busy: bool) -> None:
    """Begin a work session (signed in, heard from `now`, idle since `now` unless `busy`),
    or record a sign of life of a session that goes on (becoming busy if `busy`): one
    UPDATE, also when the person takes a task in the same transaction. `now` is the
    database's clock (`people_lock`'s `db_now`). The instance is updated to match the row.
    """
    db = rawsql.db()
    stored = rawsql.datetime_to_db(db, now)
    params = [stored]
    person.last_heartbeat = now
    if new_session:
        params += [True, stored, ""]
        person.is_logged_in, person.logged_in_at, person.signed_out_reason = True, now, ""
    if new_session or busy:
        params += [busy, None if busy else stored]
        person.is_busy, person.idle_since = busy, None if busy else now
    rawsql.execute(db, _sign_in_sql(db, new_session, busy), [*params, person.pk])


@per_database
def _busy_sql(n: int) -> str:
    return (
        f"UPDATE {table(Person)} SET {col(Person, 'is_busy')} = %s,"
        f" {col(Person, 'idle_since')} = NULL"
        f" WHERE {col(Person, 'id')} IN ({placeholders(range(n))})"
    )


def people_busy(person_ids: list[int]) -> None:
    """These people are busy (and no longer idle). The caller holds their row locks."""
    db = rawsql.db()
    rawsql.execute(db, _busy_sql(db, len(person_ids)), [True, *person_ids])


# --- tasks ---


# --- the pick (docs/engine.md, "Routing") ---


@dataclass(frozen=True)
class GroupRead:
    """One index range of the pick's read: the oldest pending, unexpired tasks of one
    priority and one skill (`skill`, or None for tasks anyone may take), or, `relaxed`,
    of one priority and any skill created at or before the relax cutoff; `limit` of them,
    after the row `after` ((created_at, id), for a second read of the same range)."""

    index: int
    priority: int
    skill: str | None = None
    relaxed: bool = False
    limit: int = 1
    after: int | None = None


def _range_conditions(kind: str, priority: int, after: bool, excluded: int) -> list[str]:
    """The WHERE of one range of the pick (see `_head_sql`), its constants written in; its
    parameters in order: the skill (kind "skill") or the relax cutoff ("relaxed"), the last
    task read (3, with `after`), then the `excluded` task ids."""
    conditions = [
        f"{col(Task, 'status', 't')} = '{TaskStatus.PENDING}'",
        f"{col(Task, 'priority', 't')} = {int(priority)}",
    ]
    if kind == "skill":
        conditions.insert(1, f"{col(Task, 'skill', 't')} = %s")
    elif kind == "anyone":
        conditions.insert(1, f"{col(Task, 'skill', 't')} IS NULL")
    else:
        conditions.append(f"{col(Task, 'created_at', 't')} <= %s")
    conditions.append(_unexpired_sql(connection))
    if after:
        # Past the last task read, by its own row (its `created_at` exactly as stored).
        created, task_id = col(Task, "created_at", "t"), col(Task, "id", "t")
        last = (
            f"(SELECT {col(Task, 'created_at', 'l')} FROM {table(Task)} {q('l')}"
            f" WHERE {col(Task, 'id', 'l')} = %s)"
        )
        conditions.append(f"({created} > {last} OR ({created} = {last} AND {task_id} > %s))")
    if excluded:
        conditions.append(f"{col(Task, 'id', 't')} NOT IN ({placeholders(range(excluded))})")
    return conditions


def _range_from(kind: str) -> str:
    """The table of a range, through its covering index (MySQL/MariaDB are told which)."""
    name = "qc_tasks_relaxed" if kind == "relaxed" else "qc_tasks_route"
    hint = f" FORCE INDEX ({q(name)})" if connection.vendor == "mysql" else ""
    return f"{table(Task)} {q('t')}{hint}"


def _range_order() -> str:
    return f" ORDER BY {col(Task, 'created_at', 't')}, {col(Task, 'id', 't')}"


@per_database
def _head_sql(kind: str, priority: int, index: int, after: bool, excluded: int):
    """One range of the pick's read, its constants (status, priority, the range's number)
    written in. MySQL/MariaDB read each range as a parenthesised SELECT of the UNION (a
    derived table is materialised first, which costs more there); SQLite needs the derived
    table (it has no parenthesised SELECT in a compound)."""
    conditions = _range_conditions(kind, priority, after, excluded)
    select = (
        f"SELECT {int(index)}, {col(Task, 'id', 't')}, {_created_us_sql(connection)}"
        f" FROM {_range_from(kind)} WHERE {' AND '.join(conditions)}{_range_order()} LIMIT %s"
    )
    if connection.vendor == "mysql":
        return f"({select})"
    return f"SELECT * FROM ({select}) AS {q('g')}"


@per_database
def _first_free_sql(kind: str, priority: int, excluded: int) -> str:
    never = (
        f"NOT EXISTS (SELECT 1 FROM {table(Exclusion)} {q('e')}"
        f" WHERE {col(Exclusion, 'task', 'e')} = {col(Task, 'id', 't')}"
        f" AND {col(Exclusion, 'person', 'e')} = %s)"
    )
    conditions = [*_range_conditions(kind, priority, False, excluded), never]
    return (
        f"SELECT {columns(connection, Task, 't').sql}, {_created_us_sql(connection)}"
        f" FROM {_range_from(kind)} WHERE {' AND '.join(conditions)}{_range_order()} LIMIT 1"
        + rawsql.for_update(skip_locked=True)
    )


def task_lock_first_free(read: GroupRead, *, person_id: int, exclude=(), cutoff=None):
    """Lock the first task of one range of the pick (`read`: its kind and priority; not
    `exclude`, not excluded for this person) that no other transaction holds: the range is
    walked in queue order and a task another transaction is taking is passed over (SKIP
    LOCKED), so a person whose best task is being taken by someone else gets the next one
    of that range in the same round trip. Returns the task's row (as `tasks_lock_pending`
    returns them) followed by its `created_at` in microseconds, or None when the range
    holds no such task."""
    db = rawsql.db()
    kind = "relaxed" if read.relaxed else "anyone" if read.skill is None else "skill"
    exclude = tuple(exclude)
    params: list = []
    if kind == "skill":
        params.append(read.skill)
    elif kind == "relaxed":
        params.append(rawsql.datetime_to_db(db, cutoff))
    params += [*exclude, person_id]
    return rawsql.fetchone(db, _first_free_sql(db, kind, read.priority, len(exclude)), params)


@per_database
def _heads_sql(shape: tuple) -> str:
    """The whole read of one shape (the ranges' kinds, priorities, numbers and options):
    a person's read has the same shape every time."""
    return " UNION ALL ".join(_head_sql(connection, *part) for part in shape)


@per_database
def _created_us_sql() -> str:
    """`created_at` as whole microseconds since 1970 (UTC), from the index: a number to rank
    by and subtract, where a datetime costs a conversion per row read."""
    created = col(Task, "created_at", "t")
    if connection.vendor == "mysql":  # the session's time zone is UTC
        return f"TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {created})"
    return f"CAST(ROUND((julianday({created}) - 2440587.5) * 86400000000.0) AS INTEGER)"


@per_database
def _unexpired_sql() -> str:
    expires = col(Task, "expires_at", "t")
    return f"({expires} IS NULL OR {expires} > {rawsql.now_sql(connection)})"


def tasks_heads(reads: list[GroupRead], *, exclude=(), cutoff=None) -> list[tuple]:
    """The pick's read, unlocked, in one round trip: for each range of `reads`, its first
    `limit` tasks in queue order (other than `exclude`), through the covering indexes
    `qc_tasks_route` and `qc_tasks_relaxed` (`cutoff` is the relax cutoff of the relaxed
    ranges). Returns rows (range index, task id, created_at in microseconds since 1970)."""
    if not reads:
        return []
    db = rawsql.db()
    shape, params = [], []
    exclude = tuple(exclude)
    stored_cutoff = None
    for read in reads:
        kind = "relaxed" if read.relaxed else "anyone" if read.skill is None else "skill"
        shape.append((kind, read.priority, read.index, read.after is not None, len(exclude)))
        if kind == "skill":
            params.append(read.skill)
        elif kind == "relaxed":
            if stored_cutoff is None:
                stored_cutoff = rawsql.datetime_to_db(db, cutoff)
            params.append(stored_cutoff)
        if read.after is not None:
            params += [read.after, read.after, read.after]
        params += [*exclude, read.limit]
    return rawsql.fetchall(db, _heads_sql(db, tuple(shape)), params)


@per_database
def _exclusions_sql(n: int) -> str:
    return (
        f"SELECT {col(Exclusion, 'task')}, {col(Exclusion, 'person')} FROM {table(Exclusion)}"
        f" WHERE {col(Exclusion, 'task')} IN ({placeholders(range(n))})"
    )


def task_exclusions(task_ids) -> set[tuple[int, int]]:
    """The (task id, person id) pairs of these tasks that are never offered to that person
    (through the unique index on (task, person))."""
    ids = list(task_ids)
    if not ids:
        return set()
    db = rawsql.db()
    return {tuple(row) for row in rawsql.fetchall(db, _exclusions_sql(db, len(ids)), ids)}


@per_database
def _lock_pending_sql(n: int) -> str:
    return (
        f"SELECT {columns(connection, Task, 't').sql} FROM {table(Task)} {q('t')}"
        f" WHERE {col(Task, 'id', 't')} IN ({placeholders(range(n))})"
        f" AND {col(Task, 'status', 't')} = %s AND {_unexpired_sql(connection)}"
        + rawsql.for_update(skip_locked=True)
    )


def tasks_lock_pending(task_ids) -> list[tuple]:
    """Lock these tasks by key where they are still pending and unexpired, passing over any
    another transaction holds (SKIP LOCKED). Under READ COMMITTED the lock reads the latest
    committed row, so a task taken meanwhile is left out. Returns their rows
    (`task_from_row` makes a row a Task; `TASK_ROW` names the columns the pick reads)."""
    ids = list(task_ids)
    if not ids:
        return []
    db = rawsql.db()
    return rawsql.fetchall(db, _lock_pending_sql(db, len(ids)), [*ids, TaskStatus.PENDING])


@per_database
def _lock_expired_sql() -> str:
    expires = col(Task, "expires_at", "t")
    hint = f" FORCE INDEX ({q('qc_tasks_expiry')})" if connection.vendor == "mysql" else ""
    return (
        f"SELECT {col(Task, 'id', 't')}, {col(Task, 'external_id', 't')}"
        f" FROM {table(Task)} {q('t')}{hint}"
        f" WHERE {col(Task, 'status', 't')} = %s AND {expires} <= {rawsql.now_sql(connection)}"
        f" ORDER BY {expires} LIMIT %s" + rawsql.for_update(skip_locked=True)
    )


def tasks_lock_expired(*, limit: int) -> list[tuple[int, str | None]]:
    """Lock up to `limit` pending tasks past their `expires_at` (the database's clock),
    through the index `qc_tasks_expiry` (an idle cycle reads nothing else), passing over any
    another transaction holds. Returns their (id, external id)."""
    db = rawsql.db()
    return [
        tuple(row)
        for row in rawsql.fetchall(db, _lock_expired_sql(db), [TaskStatus.PENDING, limit])
    ]


# Where the pick finds its columns in a task row.
TASK_ROW = {f.attname: i for i, f in enumerate(Task._meta.concrete_fields)}


def task_external_ids(rows) -> dict[int, str | None]:
    """Task id -> external id, from task rows (`tasks_lock_pending`, the pick's)."""
    column = TASK_ROW["external_id"]
    return {row[0]: row[column] for row in rows}


def task_from_row(row) -> Task:
    db = rawsql.db()
    return columns(db, Task, "t").instance(db, row)


@per_database
def _task_lock_sql() -> str:
    return (
        f"SELECT {columns(connection, Task, 't').sql} FROM {table(Task)} {q('t')}"
        f" WHERE {col(Task, 'id', 't')} = %s" + rawsql.for_update()
    )


# --- reviews (docs/engine.md, "Outcomes") ---

_REVIEWED_TASK = ("status", "reviews_done", "reviews_required", "sampled", "outcome")
_REVIEW = ("end_reason", "outcome", "notes", "defects")


@per_database
def _review_close_sql() -> str:
    now = rawsql.now_sql(connection)
    assigned = ", ".join(f"{col(Assignment, name)} = %s" for name in _REVIEW)
    return (
        f"UPDATE {table(Assignment)} SET {col(Assignment, 'completed_at')} = {now},"
        f" {col(Assignment, 'ended_at')} = {now}, {assigned}"
        f" WHERE {col(Assignment, 'open_task')} = %s AND {col(Assignment, 'person')} = %s"
    )


@per_database
def _task_reviewed_sql(back: bool) -> str:
    assigned = ", ".join(f"{col(Task, name)} = %s" for name in _REVIEWED_TASK)
    freed = f", {col(Task, 'assigned_to')} = NULL" if back else ""
    return f"UPDATE {table(Task)} SET {assigned}{freed} WHERE {col(Task, 'id')} = %s"


def review_write(task: Task, person_id: int, *, outcome: str, notes: str, defects) -> None:
    """Write a review: close the open assignment of `task` and this person as completed,
    with the verdict, notes and defect codes (a list, or none); then the task's status,
    reviews, sampling and outcome as the instance has them (a task back in the queue,
    PENDING, loses its holder). Two statements by key: one multi-table UPDATE of both rows
    measured 30× slower on MariaDB 10.11 (docs/benchmarks.md, "Complete"). The caller holds
    the person's and the task's locks. Both go with the transaction's next statement
    (`rawsql.defer`); AssertionError then if the assignment was not open (the fence is the
    caller's)."""
    db = rawsql.db()
    # NULL when none (the field's own conversion would store the JSON text "null").
    field = Assignment._meta.get_field("defects")
    stored = field.get_db_prep_value(list(defects), db) if defects else None
    params = ["COMPLETED", outcome, notes, stored, task.pk, person_id]
    # An in-progress task has exactly one open assignment.
    rawsql.defer(db, _review_close_sql(db), params, expect=1)
    written = [task.status, task.reviews_done, task.reviews_required, task.sampled, task.outcome]
    back = task.status == TaskStatus.PENDING
    rawsql.defer(db, _task_reviewed_sql(db, back), [*written, task.pk])


def tasks_hand_over(pairs: list[tuple[int, int]], *, source: str, now=None) -> None:
    """Give each (person, task) pair's task to its person, two statements for any number
    of pairs, sent with the transaction's next statement (`rawsql.defer`). The caller holds
    the locks on all those rows, and marks the people busy.
    A task given for the first time records `now` (the database's clock; by default its
    clock at the UPDATE) as its first assignment.

    - one open assignment per pair, in one multi-row INSERT: `bulk_create` would build an
      instance per row and read back the id, `assigned_at` and both generated columns of
      every row, which for a batch of 500 takes longer in Python than the database takes
      for the whole batch (docs/benchmarks.md, burn-down);
    - each task goes to the person of its new open assignment (the unique `open_task`
      index): one UPDATE for the batch, with no per-pair CASE.
    """
    db, n = rawsql.db(), len(pairs)
    rawsql.defer(
        db,
        _open_assignments_sql(db, n),
        [value for person_id, task_id in pairs for value in (task_id, person_id, source, "")],
    )
    task_ids = [task_id for _, task_id in pairs]
    given = [] if now is None else [rawsql.datetime_to_db(db, now)]
    sql = _tasks_in_progress_sql(db, n, now is not None)
    rawsql.defer(db, sql, [TaskStatus.IN_PROGRESS, *given, *task_ids])


# A batch has up to QC_ASSIGN_BATCH_SIZE pairs; the statements are cached per size.
@per_database
def _open_assignments_sql(n: int) -> str:
    names = ", ".join(col(Assignment, f) for f in ("task", "person", "source", "end_reason"))
    return f"INSERT INTO {table(Assignment)} ({names}) VALUES {', '.join(['(%s, %s, %s, %s)'] * n)}"


@per_database
def _tasks_in_progress_sql(n: int, given_now: bool) -> str:
    first_assigned = col(Task, "first_assigned_at")
    return (
        f"UPDATE {table(Task)} SET {col(Task, 'status')} = %s,"
        f" {col(Task, 'assigned_to')} = (SELECT {col(Assignment, 'person', 'a')}"
        f" FROM {table(Assignment)} {q('a')}"
        f" WHERE {col(Assignment, 'open_task', 'a')} = {table(Task)}.{col(Task, 'id')}),"
        f" {first_assigned} = COALESCE({first_assigned},"
        f" {'%s' if given_now else rawsql.now_sql(connection)})"
        f" WHERE {col(Task, 'id')} IN ({placeholders(range(n))})"
    )


# --- counters ---


@per_database
def _this_hour() -> tuple[str, list]:
    """`Trunc(Now(), "hour")`, the start of the current hour on the database's clock: SQL
    and its parameters."""
    return rawsql.compiled(Counter, Trunc(Now(), "hour", output_field=models.DateTimeField()))


@per_database
def _counter_add_sql(n: int) -> str:
    value, hour, name = col(Counter, "value"), col(Counter, "hour"), col(Counter, "name")
    added = "%s" if n == 1 else f"CASE {name}{' WHEN %s THEN %s' * n} END"
    return (
        f"UPDATE {table(Counter)} SET {value} = {value} + {added}"
        f" WHERE {name} IN ({placeholders(range(n))}) AND {col(Counter, 'shard')} = %s"
        f" AND {hour} IN (%s, {_this_hour(connection)[0]})"
    )


def counter_add(counts: dict[str, int], shard: int) -> int:
    """Add each of `counts` (name → n) to one shard of its running total and of its count
    for the current hour, in one statement: the rows updated, 2 per name unless some do not
    exist yet (`counters.count_many` then takes it back). The rows are locked in index order
    (hour first: every running total's row before any hour's), whatever the names."""
    db = rawsql.db()
    all_time = rawsql.datetime_to_db(db, Counter.ALL_TIME)
    names = sorted(counts)
    if len(names) == 1:
        added = [counts[names[0]]]
    else:
        added = [v for name in names for v in (name, counts[name])]
    params = [*added, *names, shard, all_time, *_this_hour(db)[1]]
    return rawsql.execute(db, _counter_add_sql(db, len(names)), params)


@per_database
def _counter_upsert_sql(this_hour: bool) -> str:
    value = col(Counter, "value")
    keys = ", ".join(col(Counter, f) for f in ("hour", "name", "shard"))
    if connection.vendor == "mysql":
        upsert = f"ON DUPLICATE KEY UPDATE {value} = {value} + VALUES({value})"
    else:
        upsert = f"ON CONFLICT ({keys}) DO UPDATE SET {value} = {value} + excluded.{value}"
    hour = _this_hour(connection)[0] if this_hour else "%s"
    return f"INSERT INTO {table(Counter)} ({keys}, {value}) VALUES ({hour}, %s, %s, %s) {upsert}"


def counter_insert_or_add(name: str, shard: int, n: int, *, this_hour: bool) -> None:
    """Create the shard row of a running total (or of its current hour's count) holding
    `n`, or add `n` if a concurrent first count created it: an upsert, so two first counts
    of the same shard cannot both insert."""
    db = rawsql.db()
    hour = _this_hour(db)[1] if this_hour else [rawsql.datetime_to_db(db, Counter.ALL_TIME)]
    rawsql.execute(db, _counter_upsert_sql(db, this_hour), [*hour, name, shard, n])

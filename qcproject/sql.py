"""The hot statements, in raw SQL, in one place.

Why raw SQL: a heartbeat and a sign-in are each a handful of small statements by key, and
on the deployment machine (2 cores) Django's ORM spends 0.6–1 ms of CPU building and
compiling each one, against ~0.1 ms for a raw statement. Through the ORM a heartbeat cost
the web server 6.5 ms of CPU, most of it building queries, and a sign-in 12 ms; neither the
500-person shift start nor the heartbeat goal of `make bench` can be met that way
(docs/benchmarks.md). Here are those statements, the token authentication every API
request runs, the assignment writes every handover shares (sign-in, complete, assigner) and
the counters every counted transaction bumps. Everything else stays with the ORM.

What every statement here keeps to:
- It runs on `django.db.connection`, inside the caller's transaction, and takes only the
  locks the caller's lock order says (person rows, then task rows: tasks/services.py).
- It is portable to both databases the project runs on: MySQL/MariaDB (production) and
  SQLite (the quick start). The clock comes from the ORM's own compilation of `Now()` and
  of the heartbeat cutoff, so staleness is decided by the database's clock exactly as in the
  ORM's queries (`Person.objects.live()`); FOR UPDATE / SKIP LOCKED come from the
  connection's features (SQLite has neither, and serialises writers instead).
- Table and column names come from the models' `_meta`, and rows come back as model
  instances through the ORM's own converters (booleans, aware datetimes), so callers see
  the same objects a queryset would give them.
"""

import functools

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.functions import Now, Trunc
from django.db.models.sql import Query
from rest_framework.authtoken.models import Token

from personnel.models import Person, heartbeat_cutoff
from tasks.models import Assignment, Counter, Task, TaskStatus


def _db():
    """The default connection itself: looked up once per statement, not per attribute (each
    look through `django.db.connection` costs a context-local lookup, microseconds here)."""
    return connections[DEFAULT_DB_ALIAS]


def _per_database(build):
    """Build a statement's text once per database vendor (quoting and clock differ). The
    cached builder takes the connection first, `_statement_sql(db, *args)`; the building
    itself runs on `connection`."""
    built = {}

    @functools.wraps(build)
    def get(db, *args):
        key = (db.vendor, *args)
        if key not in built:
            built[key] = build(*args)
        return built[key]

    return get


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model) -> str:
    return _q(model._meta.db_table)


def _col(model, field_name: str, alias: str | None = None) -> str:
    column = _q(model._meta.get_field(field_name).column)
    return f"{_q(alias)}.{column}" if alias else column


def _compiled(expression) -> tuple[str, list]:
    """An ORM expression as the ORM compiles it for the current database: SQL, parameters."""
    query = Query(Person)
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.compile(expression.resolve_expression(query))
    return sql, list(params)


@_per_database
def _now() -> str:
    """`Now()`, the database's clock."""
    return _compiled(Now())[0]


@_per_database
def _cutoff_sql() -> str:
    """`heartbeat_cutoff()` (now minus a duration); the duration is its one parameter, in
    microseconds."""
    sql, params = _compiled(heartbeat_cutoff(1))
    assert params == [1_000_000], "the cutoff takes its duration as one parameter"
    return sql


def _cutoff_param(timeout: int | None) -> int:
    seconds = settings.QC_HEARTBEAT_TIMEOUT if timeout is None else timeout
    return seconds * 1_000_000


def _for_update(*, skip_locked: bool = False) -> str:
    if not connection.features.has_select_for_update:
        return ""  # SQLite: the transaction holds the database's write lock already
    return " " + connection.ops.for_update_sql(skip_locked=skip_locked)


def _converters(field, alias: str):
    """The column of `field` under `alias`, and what the ORM's compiler applies to its
    values on their way out of the database (booleans, aware datetimes)."""
    col = field.get_col(alias)
    return col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)


class _Columns:
    """A model's concrete columns in a SELECT list, and the way back from a row to an
    instance, with the converters the ORM's compiler would apply."""

    def __init__(self, model, alias: str):
        self.model = model
        fields = model._meta.concrete_fields
        self.sql = ", ".join(f"{_q(alias)}.{_q(f.column)}" for f in fields)
        self.width = len(fields)
        self.converters = []
        for i, f in enumerate(fields):
            col, chain = _converters(f, alias)
            if chain:
                self.converters.append((i, col, chain))

    def instance(self, db, row, start: int = 0):
        """The instance in `row[start:start + width]`, or None when its key is NULL (the
        missing side of a LEFT JOIN)."""
        values = list(row[start : start + self.width])
        if values[0] is None:
            return None
        for i, col, chain in self.converters:
            for convert in chain:
                values[i] = convert(values[i], col, db)
        return self.model.from_db(db.alias, None, values)


_columns = _per_database(_Columns)


def _cursor(db):
    """A cursor of `db`, kept for this module's statements while the connection lasts.

    Django makes a cursor per `connection.cursor()` call, and for a sign-in's seven
    statements that was a tenth of its CPU. The health check and the (re)connection that
    `cursor()` would do are done here too; a new connection, or query logging turned on
    (DEBUG, the test suite's query counts), gets a new cursor.
    """
    db.close_if_health_check_failed()
    db.ensure_connection()
    key = (db.connection, db.queries_logged)
    kept = db.__dict__.get("_qc_cursor")
    if kept is None or kept[0] != key:
        kept = db._qc_cursor = (key, db.cursor())
    return kept[1]


def _fetchone(db, sql: str, params: list):
    cursor = _cursor(db)
    cursor.execute(sql, params)
    return cursor.fetchone()


def _execute(db, sql: str, params: list) -> int:
    cursor = _cursor(db)
    cursor.execute(sql, params)
    return cursor.rowcount


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


# --- authentication: every API request ---


def _user_pk(alias: str) -> str:
    User = get_user_model()
    return f"{_q(alias)}.{_q(User._meta.pk.column)}"


@_per_database
def _token_sql() -> str:
    User = get_user_model()
    user_pk = _user_pk("u")
    return (
        f"SELECT {_columns(connection, Token, 't').sql}, {_columns(connection, User, 'u').sql},"
        f" {_columns(connection, Person, 'p').sql}"
        f" FROM {_table(Token)} {_q('t')}"
        f" INNER JOIN {_table(User)} {_q('u')} ON {user_pk} = {_col(Token, 'user', 't')}"
        f" LEFT OUTER JOIN {_table(Person)} {_q('p')} ON {_col(Person, 'user', 'p')} = {user_pk}"
        f" WHERE {_col(Token, 'key', 't')} = %s"
    )


def token_with_user(key: str) -> Token | None:
    """The API token `key` with its user, and the user's QC person (or None), in one query.

    Sets the related caches as `select_related("user", "user__person")` would, so
    `token.user.person` costs no further query.
    """
    db = _db()
    row = _fetchone(db, _token_sql(db), [key])
    if row is None:
        return None
    token, user = _columns(db, Token, "t"), _columns(db, get_user_model(), "u")
    person = _columns(db, Person, "p")
    token_obj = token.instance(db, row)
    user_obj = user.instance(db, row, token.width)
    person_obj = person.instance(db, row, token.width + user.width)
    Token._meta.get_field("user").set_cached_value(token_obj, user_obj)
    person_user = Person._meta.get_field("user")
    person_user.remote_field.set_cached_value(user_obj, person_obj)
    if person_obj is not None:
        person_user.set_cached_value(person_obj, user_obj)
    return token_obj


@_per_database
def _active_token_sql(select: str, join: str = "") -> str:
    """`SELECT <select>` from token `%s` of an active user (aliases t and u), plus `join`."""
    return (
        f"SELECT {select} FROM {_table(Token)} {_q('t')}"
        f" INNER JOIN {_table(get_user_model())} {_q('u')}"
        f" ON {_user_pk('u')} = {_col(Token, 'user', 't')}{join}"
        f" WHERE {_col(Token, 'key', 't')} = %s AND {_col(get_user_model(), 'is_active', 'u')}"
    )


# --- personnel ---


@_per_database
def _heartbeat_sql() -> str:
    heartbeat = _col(Person, "last_heartbeat")
    return (
        f"UPDATE {_table(Person)} SET {heartbeat} = {_now(connection)}"
        f" WHERE {_col(Person, 'id')} = %s AND {_col(Person, 'is_logged_in')}"
        f" AND {heartbeat} >= {_cutoff_sql(connection)}"
    )


def person_heartbeat(person_id: int, *, timeout: int | None = None) -> bool:
    """Refresh the heartbeat of a live session (signed in, heard from within the timeout).

    False when there is no live session; the caller finds out why.
    """
    db = _db()
    return bool(_execute(db, _heartbeat_sql(db), [person_id, _cutoff_param(timeout)]))


@_per_database
def _heartbeat_with_token_sql() -> str:
    token_user = _active_token_sql(connection, _col(Token, "user", "t"))
    return f"{_heartbeat_sql(connection)} AND {_col(Person, 'user')} = ({token_user})"


def person_heartbeat_with_token(person_id: int, key: str, *, timeout: int | None = None) -> bool:
    """`person_heartbeat` for the holder of API token `key` only: the session is refreshed
    when it is live and the token is this person's own, of an active user. One statement
    for the common case of the API's most frequent request; False in every other case."""
    db = _db()
    params = [person_id, _cutoff_param(timeout), key]
    return bool(_execute(db, _heartbeat_with_token_sql(db), params))


@_per_database
def _person_with_task_sql() -> str:
    return (
        f"SELECT {_columns(connection, Person, 'p').sql}, {_columns(connection, Task, 't').sql}"
        f" FROM {_table(Person)} {_q('p')} LEFT OUTER JOIN {_table(Task)} {_q('t')}"
        f" ON {_col(Task, 'in_progress_person', 't')} = {_col(Person, 'id', 'p')}"
        f" WHERE {_col(Person, 'id', 'p')} = %s"
    )


def person_with_task(person_id: int) -> Person | None:
    """The person with `current_task` set (their in-progress task, or None), in one query
    through the unique `in_progress_person`; None for an unknown id."""
    db = _db()
    row = _fetchone(db, _person_with_task_sql(db), [person_id])
    if row is None:
        return None
    person, task = _columns(db, Person, "p"), _columns(db, Task, "t")
    found = person.instance(db, row)
    found.current_task = task.instance(db, row, person.width)
    if found.current_task is not None:
        Task._meta.get_field("assigned_to").set_cached_value(found.current_task, found)
    return found


@_per_database
def _person_lock_sql(by_token: bool, by_id: bool) -> str:
    where = [f"{_col(Person, 'id', 'p')} = %s"] if by_id else []
    if by_token:
        token_user = _active_token_sql(connection, _col(Token, "user", "t"))
        where.append(f"{_col(Person, 'user', 'p')} = ({token_user})")
    return (
        f"SELECT {_columns(connection, Person, 'p').sql}, ({_col(Person, 'is_logged_in', 'p')}"
        f" AND {_col(Person, 'last_heartbeat', 'p')} >= {_cutoff_sql(connection)}),"
        f" {_now(connection)}"
        f" FROM {_table(Person)} {_q('p')} WHERE {' AND '.join(where)}" + _for_update()
    )


def person_lock(
    person_id: int | None, *, token_key: str | None = None, timeout: int | None = None
) -> Person | None:
    """Lock the person's row (FOR UPDATE) and return it with `is_live` set, as
    `Person.objects.with_liveness().select_for_update()` would, and `db_now`, the
    database's clock at the lock; None when there is none.

    With `token_key`, the person is the holder of that API token (an active user's), and
    must also be `person_id` when one is given: the sign-in of the lean path authenticates
    in its first statement. Under READ COMMITTED the token and user rows are read, not
    locked (checked in tests).
    """
    if person_id is None and token_key is None:
        raise ValueError("person_lock needs a person id, a token key, or both")
    db = _db()
    params = [_cutoff_param(timeout)]
    params += [person_id] if person_id is not None else []
    params += [token_key] if token_key is not None else []
    sql = _person_lock_sql(db, token_key is not None, person_id is not None)
    row = _fetchone(db, sql, params)
    if row is None:
        return None
    person = _columns(db, Person, "p")
    found = person.instance(db, row)
    found.is_live = bool(row[person.width])
    found.db_now = _datetime_from_db(db, row[person.width + 1])
    return found


@_per_database
def _datetime_converters():
    return _converters(Person._meta.get_field("last_heartbeat"), "p")


def _datetime_from_db(db, value):
    """A datetime the database sent, as the ORM would give it (aware, in UTC)."""
    col, chain = _datetime_converters(db)
    for convert in chain:
        value = convert(value, col, db)
    return value


@_per_database
def _sign_in_sql(new_session: bool, busy: bool) -> str:
    columns = [f"{_col(Person, 'last_heartbeat')} = %s"]
    if new_session:
        columns += [
            f"{_col(Person, 'is_logged_in')} = %s",
            f"{_col(Person, 'logged_in_at')} = %s",
            f"{_col(Person, 'signed_out_reason')} = %s",
        ]
    if new_session or busy:
        columns += [f"{_col(Person, 'is_busy')} = %s", f"{_col(Person, 'idle_since')} = %s"]
    return f"UPDATE {_table(Person)} SET {', '.join(columns)} WHERE {_col(Person, 'id')} = %s"


def person_sign_in(person: Person, *, now, new_session: bool, busy: bool) -> None:
    """Begin a work session (signed in, heard from `now`, idle since `now` unless `busy`),
    or record a sign of life of a session that goes on (becoming busy if `busy`): one
    UPDATE, also when the person takes a task in the same transaction. `now` is the
    database's clock (`person_lock`'s `db_now`). The instance is updated to match the row.
    """
    db = _db()
    stored = db.ops.adapt_datetimefield_value(now)
    params = [stored]
    person.last_heartbeat = now
    if new_session:
        params += [True, stored, ""]
        person.is_logged_in, person.logged_in_at, person.signed_out_reason = True, now, ""
    if new_session or busy:
        idle_since = None if busy else now
        params += [busy, None if busy else stored]
        person.is_busy, person.idle_since = busy, idle_since
    _execute(db, _sign_in_sql(db, new_session, busy), [*params, person.pk])


# --- the assignment engine ---


@_per_database
def _next_pending_sql(excluded: int) -> str:
    not_in = f" AND {_col(Task, 'id', 't')} NOT IN ({_placeholders(range(excluded))})"
    return (
        f"SELECT {_columns(connection, Task, 't').sql} FROM {_table(Task)} {_q('t')}"
        f" WHERE {_col(Task, 'status', 't')} = %s{not_in if excluded else ''}"
        f" ORDER BY {_col(Task, 'created_at', 't')}, {_col(Task, 'id', 't')} LIMIT 1"
        + _for_update(skip_locked=True)
    )


def task_lock_next_pending(*, exclude: tuple[int, ...] = ()) -> Task | None:
    """Lock the oldest pending task (other than `exclude`), passing over tasks another
    transaction holds (SKIP LOCKED); through the index `qc_tasks_queue`."""
    db = _db()
    row = _fetchone(db, _next_pending_sql(db, len(exclude)), [TaskStatus.PENDING, *exclude])
    return None if row is None else _columns(db, Task, "t").instance(db, row)


def people_busy(person_ids: list[int]) -> None:
    """These people are busy (and no longer idle). The caller holds their row locks."""
    db = _db()
    _execute(db, _busy_sql(db, len(person_ids)), [True, *person_ids])


def tasks_hand_over(pairs: list[tuple[int, int]], *, source: str, now=None) -> None:
    """Give each (person, task) pair's task to its person, two statements for any number
    of pairs. The caller holds the locks on all those rows, and marks the people busy.
    A task given for the first time records `now` (the database's clock; by default its
    clock at the UPDATE) as its first assignment.

    - one open assignment per pair, in one multi-row INSERT: `bulk_create` would build an
      instance per row and read back the id, `assigned_at` and both generated columns of
      every row, and for a batch of 500 that Python work took longer than the database
      took for the whole batch (`make bench`, burn-down case);
    - each task goes to the person of its new open assignment (the unique `open_task`
      index): one UPDATE for the batch, with no per-pair CASE.
    """
    db, n = _db(), len(pairs)
    _execute(
        db,
        _open_assignments_sql(db, n),
        [value for person_id, task_id in pairs for value in (task_id, person_id, source, "")],
    )
    task_ids = [task_id for _, task_id in pairs]
    given = [] if now is None else [db.ops.adapt_datetimefield_value(now)]
    sql = _tasks_in_progress_sql(db, n, now is not None)
    _execute(db, sql, [TaskStatus.IN_PROGRESS, *given, *task_ids])


# A batch has up to QC_ASSIGN_BATCH_SIZE pairs; the statements are cached per size.
@_per_database
def _busy_sql(n: int) -> str:
    return (
        f"UPDATE {_table(Person)} SET {_col(Person, 'is_busy')} = %s,"
        f" {_col(Person, 'idle_since')} = NULL"
        f" WHERE {_col(Person, 'id')} IN ({_placeholders(range(n))})"
    )


@_per_database
def _open_assignments_sql(n: int) -> str:
    columns = ", ".join(_col(Assignment, f) for f in ("task", "person", "source", "end_reason"))
    return (
        f"INSERT INTO {_table(Assignment)} ({columns}) VALUES {', '.join(['(%s, %s, %s, %s)'] * n)}"
    )


@_per_database
def _tasks_in_progress_sql(n: int, given_now: bool) -> str:
    first_assigned = _col(Task, "first_assigned_at")
    return (
        f"UPDATE {_table(Task)} SET {_col(Task, 'status')} = %s,"
        f" {_col(Task, 'assigned_to')} = (SELECT {_col(Assignment, 'person', 'a')}"
        f" FROM {_table(Assignment)} {_q('a')}"
        f" WHERE {_col(Assignment, 'open_task', 'a')} = {_table(Task)}.{_col(Task, 'id')}),"
        f" {first_assigned} = COALESCE({first_assigned}, {'%s' if given_now else _now(connection)})"
        f" WHERE {_col(Task, 'id')} IN ({_placeholders(range(n))})"
    )


# --- counters ---


@_per_database
def _this_hour() -> tuple[str, list]:
    """`Trunc(Now(), "hour")`, the start of the current hour on the database's clock: SQL
    and its parameters."""
    return _compiled(Trunc(Now(), "hour", output_field=models.DateTimeField()))


@_per_database
def _counter_add_sql() -> str:
    value, hour = _col(Counter, "value"), _col(Counter, "hour")
    return (
        f"UPDATE {_table(Counter)} SET {value} = {value} + %s"
        f" WHERE {_col(Counter, 'name')} = %s AND {_col(Counter, 'shard')} = %s"
        f" AND {hour} IN (%s, {_this_hour(connection)[0]})"
    )


def counter_add(name: str, shard: int, n: int) -> int:
    """Add `n` to one shard of a running total and of its count for the current hour: the
    rows updated, 2 unless one of them does not exist yet."""
    db = _db()
    all_time = db.ops.adapt_datetimefield_value(Counter.ALL_TIME)
    params = [n, name, shard, all_time, *_this_hour(db)[1]]
    return _execute(db, _counter_add_sql(db), params)


@_per_database
def _counter_upsert_sql(this_hour: bool) -> str:
    value = _col(Counter, "value")
    keys = ", ".join(_col(Counter, f) for f in ("hour", "name", "shard"))
    if connection.vendor == "mysql":
        upsert = f"ON DUPLICATE KEY UPDATE {value} = {value} + VALUES({value})"
    else:
        upsert = f"ON CONFLICT ({keys}) DO UPDATE SET {value} = {value} + excluded.{value}"
    hour = _this_hour(connection)[0] if this_hour else "%s"
    return f"INSERT INTO {_table(Counter)} ({keys}, {value}) VALUES ({hour}, %s, %s, %s) {upsert}"


def counter_insert_or_add(name: str, shard: int, n: int, *, this_hour: bool) -> None:
    """Create the shard row of a running total (or of its current hour's count) holding
    `n`, or add `n` if a concurrent first count created it: an upsert, so two first counts
    of the same shard cannot both insert."""
    db = _db()
    hour = _this_hour(db)[1] if this_hour else [db.ops.adapt_datetimefield_value(Counter.ALL_TIME)]
    _execute(db, _counter_upsert_sql(db, this_hour), [*hour, name, shard, n])

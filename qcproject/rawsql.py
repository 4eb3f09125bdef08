"""The machinery of the apps' hand-written statements (`tasks/sql.py`, `personnel/sql.py`).

Why hand-written SQL at all: the hot requests (heartbeat, sign-in, complete, the assigner's
batch) are each a handful of small statements by key, and building and compiling each one
through the ORM costs several times the CPU of running it (docs/benchmarks.md). The apps
write those statements once, beside the rows they change, with the helpers here, so that
each statement keeps to what the ORM would do:

- It runs on the default connection, inside the caller's transaction, and takes only the
  locks the caller's lock order allows (docs/engine.md).
- It is portable to both databases the project runs on: MySQL/MariaDB (production) and
  SQLite (the quick start). Expressions such as the database's clock or a model's
  predicate are compiled by the ORM itself (`compiled`, `compiled_where`), so a raw
  statement and the ORM's queries cannot disagree; FOR UPDATE and SKIP LOCKED come from the
  connection's features (SQLite has neither, and serialises writers instead).
- Table and column names come from the models' `_meta`, and rows come back as model
  instances through the ORM's own converters (`Columns`), so callers see the same objects
  a queryset would give them.

This module knows no app: it is infrastructure, like `qcproject.db`.
"""

import functools

from django.db import (
    DEFAULT_DB_ALIAS,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    models,
)
from django.db.models.functions import Now
from django.db.models.sql import Query


def db():
    """The default connection itself: looked up once per statement, not per attribute (each
    look through `django.db.connection` is a context-local lookup)."""
    return connections[DEFAULT_DB_ALIAS]


def per_database(build):
    """Build a statement's text once per database vendor (quoting and clock differ). The
    cached builder takes the connection first, `statement_sql(db, *args)`; the building
    itself runs on `connection`."""
    built = {}

    @functools.wraps(build)
    def get(db, *args):
        key = (db.vendor, *args)
        if key not in built:
            built[key] = build(*args)
        return built[key]

    return get


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def table(model) -> str:
    return q(model._meta.db_table)


def col(model, field_name: str, alias: str | None = None) -> str:
    """A column, qualified by `alias` when given, else unqualified."""
    column = q(model._meta.get_field(field_name).column)
    return f"{q(alias)}.{column}" if alias else column


def compiled(model, expression) -> tuple[str, list]:
    """An ORM expression as the ORM compiles it for the current database: SQL, parameters.
    Its columns are qualified with `model`'s table name."""
    query = Query(model)
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.compile(expression.resolve_expression(query))
    return sql, list(params)


def compiled_where(model, condition: models.Q) -> tuple[str, list]:
    """A filter condition (a Q object) as the ORM compiles it into a WHERE clause for
    `model`, columns qualified with its table name: SQL and parameters."""
    query = Query(model)
    where = query.build_where(condition)
    sql, params = where.as_sql(query.get_compiler(connection=connection), connection)
    return sql, list(params)


@per_database
def now_sql() -> str:
    """`Now()`, the database's clock."""
    return compiled(None, Now())[0]


def for_update(*, skip_locked: bool = False) -> str:
    if not connection.features.has_select_for_update:
        return ""  # SQLite: the transaction holds the database's write lock already
    return " " + connection.ops.for_update_sql(skip_locked=skip_locked)


def placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


def converters(field, alias: str):
    """The column of `field` under `alias`, and what the ORM's compiler applies to its
    values on their way out of the database (booleans, aware datetimes)."""
    column = field.get_col(alias)
    return column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)


class Columns:
    """A model's concrete columns (or `only` these) in a SELECT list, and the way back from a
    row to an instance, with the converters the ORM's compiler would apply; fields left out
    are deferred, as with `only()`."""

    def __init__(self, model, alias: str, only: tuple[str, ...] | None = None):
        self.model = model
        fields = [f for f in model._meta.concrete_fields if only is None or f.name in only]
        self.field_names = None if only is None else [f.attname for f in fields]
        self.sql = ", ".join(f"{q(alias)}.{q(f.column)}" for f in fields)
        self.width = len(fields)
        self.converters = []
        for i, f in enumerate(fields):
            column, chain = converters(f, alias)
            if chain:
                self.converters.append((i, column, chain))

    def instance(self, db, row, start: int = 0):
        """The instance in `row[start:start + width]`, or None when its key is NULL (the
        missing side of a LEFT JOIN)."""
        values = list(row[start : start + self.width])
        if values[0] is None:
            return None
        for i, column, chain in self.converters:
            for convert in chain:
                values[i] = convert(values[i], column, db)
        return self.model.from_db(db.alias, self.field_names, values)


columns = per_database(Columns)


@per_database
def _datetime_converters():
    value = models.Value(None, output_field=models.DateTimeField())
    return value, connection.ops.get_db_converters(value)


def datetime_from_db(db, value):
    """A datetime the database sent, as the ORM would give it (aware, in UTC)."""
    expression, chain = _datetime_converters(db)
    for convert in chain:
        value = convert(value, expression, db)
    return value


def datetime_to_db(db, value):
    """An aware datetime as the database stores it."""
    return db.ops.adapt_datetimefield_value(value)


def cursor(db):
    """A cursor of `db`, kept for the apps' statements while the connection lasts.

    Django makes a cursor per `connection.cursor()` call, a measurable share of a sign-in's
    CPU over its several statements. The health check and the (re)connection that
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


def fetchone(db, sql: str, params: list):
    c = cursor(db)
    c.execute(sql, params)
    return c.fetchone()


def fetchall(db, sql: str, params: list) -> list:
    c = cursor(db)
    c.execute(sql, params)
    return c.fetchall()


def fetchall_each(db, statements: list[tuple[str, list]]) -> list[list]:
    """The rows of each of these statements, run in order; on MySQL/MariaDB in one round
    trip (the deferred writes below go with them). Each is answered before the next runs,
    so locks are taken in the order given."""
    if db.vendor != "mysql":
        return [fetchall(db, sql, params) for sql, params in statements]
    joined, values = _joined([(sql, params, None) for sql, params in statements])
    c = cursor(db)
    c.execute(joined, values)
    answers = [c.fetchall()]
    for _ in statements[1:]:
        _next_result(db, c.cursor)
        answers.append(c.fetchall())
    _next_result(db, c.cursor)  # the end of the answers
    return answers


def execute(db, sql: str, params: list) -> int:
    c = cursor(db)
    c.execute(sql, params)
    return c.rowcount


def health_checked(db, read):
    """Run `read`, a request's first statement and a read, as the health check of the kept
    connection: in place of the ping Django sends before a request's first query
    (CONN_HEALTH_CHECKS), a round trip that every API request would pay. A connection the
    database dropped (a restart, `wait_timeout`) fails the read at once; it is closed and
    the read runs again on a new connection, as the ping would have arranged.

    Only outside a transaction, and only for a read: running it twice changes nothing.
    """
    if db.connection is None or db.in_atomic_block:
        return read()
    db.health_check_done = True
    try:
        return read()
    except (OperationalError, InterfaceError):
        db.close()
        return read()


# --- writes sent with the next statement (MySQL/MariaDB) ---
#
# A write whose answer the transaction does not need at once (an event row, an assignment
# row, the review of a task already locked) can wait for the transaction's next statement
# and go with it in one round trip: MySQL and MariaDB run the statements of one request in
# order, as if sent one by one, and answer each (mysqlclient connects with
# CLIENT.MULTI_STATEMENTS). Nothing about the transaction changes but the number of round
# trips: the same statements run in the same order under the same locks, and an error in a
# deferred statement fails the statement it went with (the transaction rolls back, and a
# deadlock is retried whole, as before). The project's MySQL backend (`qcproject.mysql`)
# sends what is left before COMMIT, and forgets it on ROLLBACK. Outside a transaction, and
# on SQLite (one statement per request), a deferred write runs at once.

_DEFERRED = "_qc_deferred"


def defer(db, sql: str, params: list, *, expect: int | None = None) -> None:
    """Run this write with the transaction's next statement (or before its COMMIT).
    `expect`: the rows it must change, checked when it has run (AssertionError: the
    caller's invariant broke, and the transaction rolls back)."""
    if db.vendor != "mysql" or not db.in_atomic_block:
        changed = execute(db, sql, params)
        assert expect is None or changed == expect, (changed, expect, sql)
        return
    db.__dict__.setdefault(_DEFERRED, []).append((sql, params, expect))


def _joined(statements) -> tuple[str, list]:
    texts, values = [], []
    for sql, params, _ in statements:
        if params is None:  # a statement without parameters is not %-formatted
            sql, params = sql.replace("%", "%%"), ()
        texts.append(sql)
        values.extend(params)
    return "; ".join(texts), values


def _next_result(db, raw) -> None:
    """Move `raw` (a MySQLdb cursor) to the next statement's answer, raising that
    statement's error as the ORM would (Django's exception classes)."""
    from django.db.backends.mysql.base import CursorWrapper as MySQLCursor

    with db.wrap_database_errors:
        try:
            raw.nextset()
        except db.Database.OperationalError as exc:
            if exc.args and exc.args[0] in MySQLCursor.codes_for_integrityerror:
                raise db.Database.IntegrityError(*tuple(exc.args)) from exc
            raise


def _answered(db, raw, statements) -> None:
    """The deferred `statements` ran first in the request `raw` answers: check each one's
    row count and move to the answer of the statement they went with."""
    for sql, _, expect in statements:
        changed = raw.rowcount
        _next_result(db, raw)
        assert expect is None or changed == expect, (changed, expect, sql)


def send_deferred(execute, sql, params, many, context):
    """An execute wrapper (the MySQL backend puts it on every connection): a statement of a
    transaction with deferred writes carries them, in one round trip; its caller gets its
    own answer, as if it had gone alone."""
    db = context["connection"]
    statements = db.__dict__.pop(_DEFERRED, None)
    if not statements:
        return execute(sql, params, many, context)
    if many:  # executemany: the deferred writes go first, on their own
        _send(db, statements)
        return execute(sql, params, many, context)
    joined, values = _joined([*statements, (sql, params, None)])
    if db.queries_logged:
        _log(db, statements)
    result = execute(joined, values, many, context)
    _answered(db, context["cursor"].cursor, statements)
    return result


def _send(db, statements) -> None:
    joined, values = _joined(statements)
    with db.cursor() as c:  # through the wrappers, with nothing deferred now
        c.execute(joined, values)
        _answered(db, c.cursor, statements)  # the last moves past the end of the answers


def flush(db) -> None:
    """Send the deferred writes now (the MySQL backend, before COMMIT)."""
    statements = db.__dict__.pop(_DEFERRED, None)
    if statements:
        _send(db, statements)


def discard(db) -> None:
    """Forget the deferred writes (ROLLBACK, a closed connection)."""
    db.__dict__.pop(_DEFERRED, None)


def _log(db, statements) -> None:
    """With query logging on (DEBUG, the tests' query counts), each deferred write gets its
    own entry, marked, before the statement it went with."""
    for sql, params, _ in statements:
        shown = sql if params is None else f"{sql} {params!r}"
        db.queries_log.append({"sql": f"/* deferred */ {shown}", "time": "0.000"})

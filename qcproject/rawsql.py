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

"""The events' hot statement, written by hand (the machinery and why: qcproject/rawsql.py):
the INSERT of a change's events, one statement for any number of rows, inside the caller's
transaction. It takes no lock another transaction waits for: a new row is the inserting
transaction's own until it commits.

Values that cannot need quoting are written into the statement (ids, made integers by
`int()`; the type and a body of a closed alphabet, between quotes), the others are
parameters: the driver escapes each parameter in Python, and for an assigner batch of 500
events the escaping of five parameters a row cost about as much as the database's work.
"""

import re

from qcproject import rawsql
from qcproject.rawsql import col, per_database, table

from .models import Event

_COLUMNS = ("type", "task_id", "person_id", "external_id", "data")
# Rows per statement; an assigner batch (at most QC_ASSIGN_BATCH_SIZE) is one statement.
CHUNK = 1000
# Strings written as they are, between single quotes: no quote, no backslash, no percent
# sign (the statement is formatted with parameters), no control character, nothing
# outside ASCII. The same literal in MySQL/MariaDB (whatever its SQL mode) and SQLite.
_PLAIN = re.compile(r"[A-Za-z0-9 _.,:;{}\[\]\"=+/@#()-]*\Z")


@per_database
def _insert_head() -> str:
    names = ", ".join(col(Event, f) for f in _COLUMNS)
    # `occurred_at` is left to its default: the database's clock.
    return f"INSERT INTO {table(Event)} ({names}) VALUES "


def _literal(value: str | None, params: list) -> str:
    if value is None:
        return "NULL"
    if _PLAIN.match(value):
        return f"'{value}'"
    params.append(value)
    return "%s"


def _id(value: int | None) -> str:
    return "NULL" if value is None else str(int(value))


def events_insert(type: str, rows, data: str | None) -> None:
    """Insert events of one `type` sharing the body `data` (JSON text, or None): each row
    is (task id, person id, external id), in order (their ids ascend in that order)."""
    events_insert_each((type, *row, data) for row in rows)


def events_insert_each(rows) -> None:
    """Insert events each of its own type and body: each row is (type, task id, person id,
    external id, data JSON text or None), in order (their ids ascend in that order)."""
    db = rawsql.db()
    head = _insert_head(db)
    rows = list(rows)
    for start in range(0, len(rows), CHUNK):
        params: list = []
        values = []
        for type, task_id, person_id, external_id, data in rows[start : start + CHUNK]:
            assert _PLAIN.match(type), type
            ext = _literal(external_id, params)
            body = _literal(data, params)
            values.append(f"('{type}', {_id(task_id)}, {_id(person_id)}, {ext}, {body})")
        rawsql.defer(db, head + ", ".join(values), params)  # with the next statement


# --- fan-out: the deliveries of a range of events to one endpoint --------------------------


def _delivery_model():
    from .models import Delivery

    return Delivery


@per_database
def _fan_out_bound_sql(types: int) -> str:
    seq = col(Event, "seq")
    typed = f" AND {col(Event, 'type')} IN ({', '.join(['%s'] * types)})" if types else ""
    return (
        f"SELECT {seq} FROM {table(Event)} WHERE {seq} > %s AND {seq} <= %s{typed}"
        f" ORDER BY {seq} LIMIT 1 OFFSET %s"
    )


@per_database
def _fan_out_sql(types: int) -> str:
    Delivery = _delivery_model()
    names = ", ".join(
        col(Delivery, f)
        for f in (
            "endpoint",
            "event",
            "seq",
            "order_key",
            "status",
            "attempts",
            "response_body",
            "error",
            "lease",
        )
    )
    seq, task, person = col(Event, "seq"), col(Event, "task_id"), col(Event, "person_id")
    typed = f" AND {col(Event, 'type')} IN ({', '.join(['%s'] * types)})" if types else ""
    # The order key: the task, else the person (negated), else none (models.Event.order_key).
    return (
        f"INSERT INTO {table(Delivery)} ({names})"
        f" SELECT %s, {col(Event, 'id')}, {seq},"
        f" CASE WHEN {task} IS NOT NULL THEN {task} ELSE -{person} END, %s, 0, '', '', ''"
        f" FROM {table(Event)} WHERE {seq} > %s AND {seq} <= %s{typed}"
    )


def deliveries_make(*, endpoint_id: int, after: int, upto: int, types: list[str], limit: int):
    """Make the deliveries to one endpoint of the events numbered after `after`, up to
    `upto`, of `types` (all when empty), at most `limit` of them, in two statements (the
    bound of the range, then INSERT … SELECT). Returns (how many, the last number covered)."""
    db = rawsql.db()
    row = rawsql.fetchone(db, _fan_out_bound_sql(db, len(types)), [after, upto, *types, limit - 1])
    last = row[0] if row else upto
    made = rawsql.execute(
        db, _fan_out_sql(db, len(types)), [endpoint_id, "pending", after, last, *types]
    )
    return made, last

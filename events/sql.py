"""The events' hot statement, written by hand (the machinery and why: qcproject/rawsql.py):
the INSERT of a change's events, one statement for any number of rows, inside the caller's
transaction. It takes no lock another transaction waits for: a new row is the inserting
transaction's own until it commits.
"""

from qcproject import rawsql
from qcproject.rawsql import col, per_database, table

from .models import Event

_COLUMNS = ("type", "task_id", "person_id", "external_id", "data")
# Rows per statement: far below SQLite's limit on parameters; an assigner batch (at most
# QC_ASSIGN_BATCH_SIZE) is one statement.
CHUNK = 1000


@per_database
def _insert_sql(n: int) -> str:
    names = ", ".join(col(Event, f) for f in _COLUMNS)
    # `occurred_at` is left to its default: the database's clock.
    row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    return f"INSERT INTO {table(Event)} ({names}) VALUES {', '.join([row] * n)}"


def events_insert(rows: list[tuple]) -> None:
    """Insert events: each row is (type, task id, person id, external id, data as JSON
    text), in order (their ids ascend in that order)."""
    db = rawsql.db()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        rawsql.execute(db, _insert_sql(db, len(chunk)), [v for row in chunk for v in row])

"""Exact running totals for `/metrics`, and the same by the hour for the dashboard, kept in
`qc_counters` (see `Counter`).

`count()` and `count_many()` run inside the caller's transaction, after that transaction's
person and task locks: counter rows are locked last. One call locks its rows in index order
(every running total's row before any hour's, names in order); a transaction that counts in
several calls counts releases or completions before assignments, and a complete counts its
completion with its next task's assignment in one call, so two transactions rarely wait on
each other's counters in opposite orders (a deadlock between two would be retried whole).
"""

import random
from datetime import datetime

from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Trunc

from qcproject import rawsql

from . import sql
from .models import Assignment, Counter, EndReason, Task, TaskStatus

# Created tasks are counted as "created", given ones as "assignments:<source>", completed
# ones as "completions", ended ones as "releases:<reason>" and expired ones as "expired".
CREATED = "created"
COMPLETIONS = "completions"
EXPIRED = "expired"


# Outcomes (docs/engine.md, "Outcomes"): verdicts given as "reviews:<pass|fail>", defect codes
# logged as "defects:<code>", tasks completed as "outcomes:<pass|fail|none>", tasks disputed
# as "disputes" and tasks sampled for an audit review as "sampled".
DISPUTES = "disputes"
SAMPLED = "sampled"


def reviews(outcome: str) -> str:
    return f"reviews:{outcome}"


def defects(code: str) -> str:
    return f"defects:{code}"


def outcomes(outcome: str) -> str:
    return f"outcomes:{outcome or 'none'}"


def assignments(source: str) -> str:
    return f"assignments:{source}"


def releases(reason: str) -> str:
    return f"releases:{reason}"


def count(name: str, n: int = 1) -> None:
    """Add `n` to the total `name` and to its count for the current hour, in the current
    transaction (`count_many`)."""
    count_many({name: n})


# Taken just before the counting UPDATE (sent with it: `rawsql.defer`), so that an UPDATE
# that found some rows missing can be taken back exactly.
_SAVEPOINT = "qc_counts"


def count_many(counts: dict[str, int]) -> None:
    """Add each of `counts` (name → n) to its total and to its count for the current hour,
    in the current transaction, on one shard: one statement (hand-written, `tasks.sql`:
    every sign-in, assignment, release and completion counts) whatever the names, more the
    first time a name is counted in an hour on that shard."""
    counts = {name: n for name, n in counts.items() if n > 0}
    if not counts:
        return
    shard = random.randrange(Counter.SHARDS)
    db = rawsql.db()
    with transaction.atomic(savepoint=False):  # a no-op inside the caller's transaction
        rawsql.defer(db, f"SAVEPOINT {_SAVEPOINT}", None)
        if sql.counter_add(counts, shard) == 2 * len(counts):
            return
        # Some rows do not exist yet (the first count of a name on this shard, or in this
        # hour). Which ones the UPDATE added to cannot be told afterwards (a row another
        # transaction created just after it looks the same as one that was there), so the
        # UPDATE is taken back whole, and each row is created holding its count or added to
        # (an upsert: a concurrent first count may have created it meanwhile), the running
        # totals' rows first.
        rawsql.execute(db, f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}", None)
        for this_hour in (False, True):
            for name in sorted(counts):
                sql.counter_insert_or_add(name, shard, counts[name], this_hour=this_hour)


def totals() -> dict[str, int]:
    """Every running total by name (a GROUP BY over the running totals' rows)."""
    return _sums(Counter.objects.filter(hour=Counter.ALL_TIME))


def since(hour: datetime) -> dict[str, int]:
    """Every count by name over the hours from `hour` (the start of an hour) to now,
    through the index (`hour` first): a week is at most 168 hours of rows, whatever the
    history holds."""
    return _sums(Counter.objects.filter(hour__gte=hour))


def _sums(rows) -> dict[str, int]:
    return {
        name: int(total)
        for name, total in rows.values_list("name").annotate(total=Sum("value")).order_by()
    }


def _rebuild_outcomes(found, by_hour, task_model, assignment_model) -> None:
    """`rebuild_hours`' outcome counts: verdicts and defect codes in the hour of their
    review; a task's final outcome, dispute or sampling in the hour of its last review (its
    first, for sampling)."""
    done = assignment_model.objects.filter(completed_at__isnull=False)
    verdicts = by_hour(done.exclude(outcome=""), "completed_at").values_list("hour", "outcome")
    for hour, outcome, n in verdicts.annotate(n=Count("id")).order_by():
        found[(hour, reviews(outcome))] = n
    logged = by_hour(done.filter(defects__isnull=False), "completed_at")
    for hour, codes in logged.values_list("hour", "defects").iterator():
        for code in codes or ():
            found[(hour, defects(code))] = found.get((hour, defects(code)), 0) + 1

    def review_at(first: bool):
        order = "completed_at" if first else "-completed_at"
        return Subquery(done.filter(task=OuterRef("pk")).order_by(order).values("completed_at")[:1])

    tasks = task_model.objects.annotate(last=review_at(False), first=review_at(True))
    completed = by_hour(tasks.filter(status=TaskStatus.COMPLETED), "last")
    for hour, outcome, n in (
        completed.values_list("hour", "outcome").annotate(n=Count("id")).order_by()
    ):
        if hour is not None:
            found[(hour, outcomes(outcome))] = found.get((hour, outcomes(outcome)), 0) + n
    disputed = tasks.filter(Q(status=TaskStatus.DISPUTED) | ~Q(resolution_note=""))
    for hour, n in by_hour(disputed, "last").annotate(n=Count("id")).order_by():
        if hour is not None:
            found[(hour, DISPUTES)] = n
    for hour, n in by_hour(tasks.filter(sampled=True), "first").annotate(n=Count("id")).order_by():
        if hour is not None:
            found[(hour, SAMPLED)] = n


def rebuild_hours(*, task_model=Task, assignment_model=Assignment, counter_model=Counter):
    """Count the history by the hour again, from its timestamps, replacing every hour's
    rows (on shard 0): for history written without counting (a database from before the
    hourly counts, the benchmark's bulk-loaded history). Makes each name's running total
    row on shard 0 where missing (with 0), so that every hour's row has its total's.

    Reads the whole history (a GROUP BY per figure): a one-off, not for a live system's
    hot path. The models are parameters so that a migration can pass its own.
    """

    def by_hour(rows, field):
        return rows.annotate(hour=Trunc(field, "hour")).values_list("hour")

    found: dict[tuple[datetime, str], int] = {}
    for hour, n in by_hour(task_model.objects, "created_at").annotate(n=Count("id")).order_by():
        found[(hour, CREATED)] = n
    given = by_hour(assignment_model.objects, "assigned_at").values_list("hour", "source")
    for hour, source, n in given.annotate(n=Count("id")).order_by():
        found[(hour, assignments(source))] = n
    completed = by_hour(assignment_model.objects.filter(completed_at__isnull=False), "completed_at")
    for hour, n in completed.annotate(n=Count("id")).order_by():
        found[(hour, COMPLETIONS)] = n
    # An expired task is counted in the hour it expired (the assigner closes it a cycle
    # later at most); a migration's model from before expiry has none.
    if any(f.name == "expires_at" for f in task_model._meta.fields):
        gone = task_model.objects.filter(status=TaskStatus.EXPIRED)
        for hour, n in by_hour(gone, "expires_at").annotate(n=Count("id")).order_by():
            found[(hour, EXPIRED)] = n
    ended = assignment_model.objects.exclude(end_reason__in=["", EndReason.COMPLETED])
    ended = by_hour(ended, "ended_at").values_list("hour", "end_reason")
    for hour, reason, n in ended.annotate(n=Count("id")).order_by():
        found[(hour, releases(reason))] = n

    if any(f.name == "outcome" for f in assignment_model._meta.fields):
        _rebuild_outcomes(found, by_hour, task_model, assignment_model)

    all_time = counter_model._meta.get_field("hour").default
    counter_model.objects.exclude(hour=all_time).delete()
    counter_model.objects.bulk_create(
        [
            counter_model(name=name, hour=hour, shard=0, value=n)
            for (hour, name), n in found.items()
        ],
        batch_size=1000,
    )
    counter_model.objects.bulk_create(
        [counter_model(name=name, hour=all_time, shard=0) for name in {n for _, n in found}],
        ignore_conflicts=True,
    )

"""Exact running totals for `/metrics`, and the same by the hour for the dashboard, kept in
`qc_counters` (see `Counter`).

`count()` runs inside the caller's transaction, after that transaction's person and task
locks (it takes counter row locks last, the running total's row before the hour's, and each
transaction counts releases or completions before assignments, so two transactions never
wait on each other's counters in opposite orders).
"""

import random
from datetime import datetime

from django.db.models import Count, Sum
from django.db.models.functions import Trunc

from . import sql
from .models import Assignment, Counter, EndReason, Task, TaskStatus

# Created tasks are counted as "created", given ones as "assignments:<source>", completed
# ones as "completions", ended ones as "releases:<reason>" and expired ones as "expired".
CREATED = "created"
COMPLETIONS = "completions"
EXPIRED = "expired"


def assignments(source: str) -> str:
    return f"assignments:{source}"


def releases(reason: str) -> str:
    return f"releases:{reason}"


def count(name: str, n: int = 1) -> None:
    """Add `n` to the total `name` and to its count for the current hour, in the current
    transaction: one statement (hand-written, `tasks.sql`: every sign-in, assignment,
    release and completion counts), two more the first time in an hour on a shard."""
    if n <= 0:
        return
    shard = random.randrange(Counter.SHARDS)
    updated = sql.counter_add(name, shard, n)
    if updated == 2:
        return
    if updated == 0:  # the first count of this name on this shard
        sql.counter_insert_or_add(name, shard, n, this_hour=False)
    # The running total's row exists (it was updated, or just made): the hour's does not.
    sql.counter_insert_or_add(name, shard, n, this_hour=True)


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

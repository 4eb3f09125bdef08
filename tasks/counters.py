"""Exact running totals for `/metrics`, kept in `qc_counters` (see `Counter`).

`count()` runs inside the caller's transaction, after that transaction's person and task
locks (it takes a counter row lock last, and each transaction counts releases or
completions before assignments, so two transactions never wait on each other's counters in
opposite orders).
"""

import random

from django.db.models import Sum

from qcproject import sql

from .models import Counter


def count(name: str, n: int = 1) -> None:
    """Add `n` to the total `name`, in the current transaction."""
    if n <= 0:
        return
    shard = random.randrange(Counter.SHARDS)
    # Raw SQL (`qcproject.sql`): every assignment, release and completion counts.
    if not sql.counter_add(name, shard, n):  # the first count of this name on this shard
        sql.counter_insert_or_add(name, shard, n)


def totals() -> dict[str, int]:
    """Every total by name (one small GROUP BY over the counter rows)."""
    return {
        name: int(total)
        for name, total in Counter.objects.values_list("name")
        .annotate(total=Sum("value"))
        .order_by()
    }

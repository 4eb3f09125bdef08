"""Exact running totals for `/metrics`, kept in `qc_counters` (see `Counter`).

`count()` runs inside the caller's transaction, after that transaction's person and task
locks (it takes a counter row lock last, and each transaction counts releases or
completions before assignments, so two transactions never wait on each other's counters in
opposite orders).
"""

import random

from django.db import connection
from django.db.models import F, Sum

from .models import Counter


def count(name: str, n: int = 1) -> None:
    """Add `n` to the total `name`, in the current transaction."""
    if n <= 0:
        return
    shard = random.randrange(Counter.SHARDS)
    updated = Counter.objects.filter(name=name, shard=shard).update(value=F("value") + n)
    if not updated:  # the first count of this name on this shard
        _insert_or_add(name, shard, n)


def _insert_or_add(name: str, shard: int, n: int) -> None:
    # An upsert, so that two first counts of the same shard cannot both insert.
    table = connection.ops.quote_name(Counter._meta.db_table)
    if connection.vendor == "mysql":
        sql = (
            f"INSERT INTO {table} (name, shard, value) VALUES (%s, %s, %s) "
            "ON DUPLICATE KEY UPDATE value = value + VALUES(value)"
        )
    else:
        sql = (
            f"INSERT INTO {table} (name, shard, value) VALUES (%s, %s, %s) "
            "ON CONFLICT (name, shard) DO UPDATE SET value = value + excluded.value"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [name, shard, n])


def totals() -> dict[str, int]:
    """Every total by name (one small GROUP BY over the counter rows)."""
    return {
        name: int(total)
        for name, total in Counter.objects.values_list("name")
        .annotate(total=Sum("value"))
        .order_by()
    }

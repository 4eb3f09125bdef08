"""Per-hour wait percentiles (`WaitHour`), for the dashboard's charts.

A closed hour's waits never change (`first_assigned_at` is written once), so each hour is
computed once, from the waits of the tasks first assigned in it, read through the covering
index `qc_tasks_waits` (no row lookups): the assigner does it as hours close, and the
dashboard fills any hour still missing from its window. The current hour is computed on
each read (`selectors.wait_percentiles`), from at most PERCENTILE_SAMPLE tasks.
"""

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, ExpressionWrapper, F

from qcproject.db import db_now

from .models import Task, WaitHour

# The most tasks read to compute one hour's percentiles (the latest of the hour): a median
# and a p90 to within a fraction of a percentile point, and a bounded read however busy
# the hour was.
HOUR_SAMPLE = 20_000
# The charts' longest span, and so the oldest hour worth computing.
KEEP_HOURS = 7 * 24


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0–100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)  # linear when they come sorted, as they do here
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def waits_between(start: datetime, end: datetime | None, *, limit: int) -> list[float]:
    """The waits (seconds, sorted) of at most `limit` tasks first assigned in [start, end),
    the latest first; computed by the database from the index alone."""
    rows = Task.objects.filter(first_assigned_at__gte=start)
    if end is not None:
        rows = rows.filter(first_assigned_at__lt=end)
    micros = (
        rows.order_by("-first_assigned_at")
        .annotate(
            d=ExpressionWrapper(
                F("first_assigned_at") - F("created_at"), output_field=BigIntegerField()
            )
        )
        .values_list("d", flat=True)[:limit]
    )
    return sorted(m / 1_000_000 for m in micros)


def wait_hours_rollup(*, now: datetime | None = None, limit: int | None = None, stop=None) -> int:
    """Compute the closed hours of the last KEEP_HOURS that have no `WaitHour` yet (at most
    `limit` of them, the latest first; between hours it returns early once `stop`, a
    threading.Event, is set). Idempotent; several processes may run it at once. Returns how
    many hours it computed."""
    now = now or db_now()
    current = hour_floor(now)
    first = current - timedelta(hours=KEEP_HOURS)
    have = set(
        WaitHour.objects.filter(hour__gte=first, hour__lt=current).values_list("hour", flat=True)
    )
    missing = [
        hour
        for hour in (current - timedelta(hours=n) for n in range(1, KEEP_HOURS + 1))
        if hour not in have
    ]
    if limit is not None:
        missing = missing[:limit]
    done = 0
    for hour in missing:
        if stop is not None and stop.is_set():
            break
        waits = waits_between(hour, hour + timedelta(hours=1), limit=HOUR_SAMPLE)
        try:
            with transaction.atomic():
                WaitHour.objects.create(
                    hour=hour,
                    tasks=len(waits),
                    p50=percentile(waits, 50),
                    p90=percentile(waits, 90),
                )
        except IntegrityError:
            pass  # another process computed it meanwhile: the same figures
        done += 1
    return done

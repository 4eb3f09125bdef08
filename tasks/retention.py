"""What `manage.py prune` deletes, kind by kind, each with its retention setting.

A kind is a function that deletes the rows of one table that are past their retention, in
short batches (each its own transaction, so that no long delete holds locks the engine
needs), and returns how many rows went. A later kind (say, the assignment history) joins
by adding itself to KINDS with its own setting.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Value
from django.db.models.functions import Now

from events.services import events_prune

from .models import Counter, PendingImport, WaitHour
from .selectors import assigners_stale

BATCH = 5_000


def _delete_in_batches(queryset) -> int:
    total = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        deleted, _ = queryset.model.objects.filter(pk__in=ids).delete()
        total += deleted


def _days_ago(days: int):
    return Now() - Value(timedelta(days=days))


def prune_hourly_counters() -> int:
    """The hourly counts (`qc_counters` rows of one hour, and the per-hour wait
    percentiles) older than QC_RETAIN_HOURLY_DAYS. The running totals are never pruned."""
    cutoff = _days_ago(settings.QC_RETAIN_HOURLY_DAYS)
    hours = Counter.objects.filter(hour__lt=cutoff).exclude(hour=Counter.ALL_TIME)
    return _delete_in_batches(hours) + _delete_in_batches(WaitHour.objects.filter(hour__lt=cutoff))


def prune_pending_imports() -> int:
    """Import previews never confirmed, past their expiry (QC_IMPORT_PENDING_MINUTES)."""
    return _delete_in_batches(PendingImport.objects.filter(expires_at__lt=Now()))


def prune_assigners() -> int:
    """Assigners not seen for QC_ASSIGNER_STALE_AFTER seconds (they died and never came
    back under their name)."""
    return _delete_in_batches(assigners_stale())


@dataclass(frozen=True)
class Kind:
    prune: Callable[[], int]
    retention: str  # what is kept, for --help and the command's report


KINDS: dict[str, Kind] = {
    "hourly-counters": Kind(prune_hourly_counters, "QC_RETAIN_HOURLY_DAYS days"),
    "pending-imports": Kind(prune_pending_imports, "until QC_IMPORT_PENDING_MINUTES expire"),
    "assigners": Kind(prune_assigners, "QC_ASSIGNER_STALE_AFTER seconds"),
    # Events whose webhook deliveries are over (docs/events.md, "Retention").
    "events": Kind(events_prune, "QC_EVENT_RETENTION_DAYS days"),
}

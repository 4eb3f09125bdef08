"""The registry of running assigners (`qc_assigners`), for /metrics and the dashboard.

Each `run_assigner` reports under a stable name (`--name`, the systemd instance name; by
default the host name), so a restart continues the same Prometheus series instead of
starting a new one. A clean stop deletes the row; a process that died leaves it, its last
cycle growing old (the "assigner down" alert), until a process takes the name again or the
row is older than QC_ASSIGNER_STALE_AFTER and is no longer shown (then pruned).
"""

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Now

from .models import AssignerInstance

logger = logging.getLogger(__name__)

# A holder on another host counts as alive while it reported within this long (for a
# holder on this host, whether its process exists decides).
OTHER_HOST_ALIVE = timedelta(minutes=2)
# How many "<host>-2", "<host>-3"… a default name tries before giving up.
MAX_DEFAULT_SUFFIX = 64


def this_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def default_name() -> str:
    return socket.gethostname()


def _stale_cutoff():
    return Now() - Value(timedelta(seconds=settings.QC_ASSIGNER_STALE_AFTER))


def _last_seen():
    return Coalesce("last_cycle_at", "started_at")


def live():
    """Assigners seen within QC_ASSIGNER_STALE_AFTER, by name (the rows metrics show)."""
    return (
        AssignerInstance.objects.alias(seen=_last_seen())
        .filter(seen__gte=_stale_cutoff())
        .order_by("name")
    )


def _holder_alive(instance: AssignerInstance, *, me: str) -> bool:
    if not instance.holder or instance.holder == me:
        return False
    host, _, pid = instance.holder.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # exists, another user's
        return True
    return (
        AssignerInstance.objects.filter(pk=instance.pk)
        .alias(seen=_last_seen())
        .filter(seen__gte=Now() - Value(OTHER_HOST_ALIVE))
        .exists()
    )


@dataclass
class Claim:
    name: str
    took_over: str = ""  # the previous holder, when the row was taken over


def assigner_claim(*, name: str | None = None) -> Claim:
    """Register this process as the assigner `name` and return the name it reports under.

    An explicit name is taken whoever held it (a restarted unit takes its own row back);
    when its holder still looks alive, a warning is logged, as the two would share one
    series. Without a name the host name is used, or the first of "<host>-2", "<host>-3"…
    that no live process on this host holds, so several assigners on one host each get a
    series of their own. Rows older than QC_ASSIGNER_STALE_AFTER are deleted first.
    """
    AssignerInstance.objects.alias(seen=_last_seen()).filter(seen__lt=_stale_cutoff()).delete()
    me = this_holder()
    if name:
        return _take(name, me, force=True)
    base = default_name()
    for n in range(1, MAX_DEFAULT_SUFFIX + 1):
        claim = _take(base if n == 1 else f"{base}-{n}", me, force=False)
        if claim is not None:
            return claim
    raise RuntimeError(f"{MAX_DEFAULT_SUFFIX} assigners already run on this host")


def _take(name: str, me: str, *, force: bool) -> Claim | None:
    while True:
        current = AssignerInstance.objects.filter(name=name).first()
        if current is None:
            try:
                with transaction.atomic():
                    AssignerInstance.objects.create(name=name, holder=me)
            except IntegrityError:
                continue  # another process created it first: look again
            return Claim(name=name)
        alive = _holder_alive(current, me=me)
        if alive and not force:
            return None
        if alive:
            logger.warning(
                "assigner name %r is held by %s, which looks alive: two processes report as "
                "one; give each its own --name",
                name,
                current.holder,
            )
        # Compare and swap on the holder: of two processes taking one row, one wins.
        taken = AssignerInstance.objects.filter(pk=current.pk, holder=current.holder).update(
            holder=me, started_at=Now(), last_cycle_at=None, last_cycle_seconds=0
        )
        if taken:
            return Claim(name=name, took_over=current.holder)


def assigner_report(*, name: str, seconds: float, assigned: int, released: int) -> None:
    """Record one finished cycle of this assigner (one UPDATE, on the database's clock);
    re-register when the row is gone (pruned, or the table emptied)."""
    updated = AssignerInstance.objects.filter(name=name).update(
        holder=this_holder(),
        last_cycle_at=Now(),
        last_cycle_seconds=seconds,
        cycles=F("cycles") + 1,
        assigned_total=F("assigned_total") + assigned,
        released_total=F("released_total") + released,
    )
    if not updated:
        _take(name, this_holder(), force=True)
        assigner_report(name=name, seconds=seconds, assigned=assigned, released=released)


def assigner_release(*, name: str) -> bool:
    """Forget this assigner on a clean stop (its series ends with it). Only this process's
    row: a name another process took over meanwhile stays. Returns whether a row went."""
    deleted, _ = AssignerInstance.objects.filter(
        Q(holder=this_holder()) | Q(holder=""), name=name
    ).delete()
    return bool(deleted)

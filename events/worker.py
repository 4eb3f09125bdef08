"""One cycle of the delivery worker (`manage.py run_webhooks` repeats it): sequence new
events, fan them out to the endpoints, claim a batch of due deliveries, post them, record
the answers. Every step but the posting is a short transaction; the posting holds none.
Several workers may run at once: they pass over each other's rows (SKIP LOCKED) and hold
their deliveries under leases (`events.services`)."""

import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from . import services
from .sender import LEASE_MARGIN, Sender

# Deliveries claimed at once.
BATCH = 500


def lease_seconds() -> float:
    """How long a claim lasts: long enough for requests to an endpoint that is slow to
    answer (a request is started only while it can end within the lease; the rest of the
    batch goes back, due at once), short enough that the deliveries of a worker that died
    go out again soon."""
    return 3 * settings.QC_WEBHOOK_TIMEOUT + 2 * LEASE_MARGIN


@dataclass
class CycleResult:
    sequenced: int = 0
    fanned_out: int = 0
    claimed: int = 0
    recorded: services.Recorded = field(default_factory=services.Recorded)

    def __bool__(self):
        return bool(self.sequenced or self.fanned_out or self.claimed)


def webhooks_cycle(*, sender: Sender, stop: threading.Event | None = None, batch: int = BATCH):
    """One cycle; `stop` is checked between the steps and while requests are in flight."""
    result = CycleResult()
    result.sequenced = services.events_sequence()
    result.fanned_out = services.deliveries_fan_out()
    if stop is not None and stop.is_set():
        return result
    seconds = lease_seconds()
    # The lease runs from the claim's UPDATE, on the database's clock; counted from before
    # the claim began, this side of it ends no later.
    deadline = time.monotonic() + seconds
    claim = services.deliveries_claim(limit=batch, lease_seconds=seconds)
    result.claimed = len(claim.outgoing)
    if claim.outgoing:
        answers = sender.send(claim.outgoing, deadline=deadline, stop=stop)
        result.recorded = services.deliveries_record(lease=claim.lease, answers=answers)
    return result

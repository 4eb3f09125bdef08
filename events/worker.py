"""One cycle of the delivery worker (`manage.py run_webhooks` repeats it): sequence new
events, fan them out to the endpoints, claim a batch of due deliveries, post them, record
the answers. Every step but the posting is a short transaction; the posting holds none.
Several workers may run at once: they pass over each other's rows (SKIP LOCKED) and hold
their deliveries under leases (`events.services`)."""

import threading
import time
from collections import deque
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
    in_flight: int = 0

    def __bool__(self):
        return bool(self.sequenced or self.fanned_out or self.claimed or self.in_flight)


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


class Deliverer:
    """The loop of `run_webhooks`: the same steps as `webhooks_cycle`, with up to two claims
    in flight, so that while one batch's requests are out the worker sequences, fans out,
    claims the next batch and records the answers of the one before. Two batches never hold
    deliveries of one task for one endpoint: a delivery being posted is pending, and the
    next delivery of its task waits for it (`services.deliveries_claim`)."""

    IN_FLIGHT = 2

    def __init__(self, *, sender: Sender, batch: int = BATCH):
        self.sender = sender
        self.batch = batch
        self.in_flight: deque = deque()
        self.most_in_flight = 0

    def step(self, *, stop: threading.Event | None = None) -> CycleResult:
        result = CycleResult()
        result.sequenced = services.events_sequence()
        result.fanned_out = services.deliveries_fan_out()
        stopping = stop is not None and stop.is_set()
        if not stopping and len(self.in_flight) < self.IN_FLIGHT:
            seconds = lease_seconds()
            deadline = time.monotonic() + seconds  # as in webhooks_cycle
            claim = services.deliveries_claim(limit=self.batch, lease_seconds=seconds)
            result.claimed = len(claim.outgoing)
            if claim.outgoing:
                future = self.sender.submit(claim.outgoing, deadline=deadline, stop=stop)
                self.in_flight.append((claim, future))
                self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        # Record the oldest batch once it is answered, or wait for it when there is nothing
        # else to do (two batches out, nothing new, or stopping).
        if self.in_flight:
            claim, future = self.in_flight[0]
            if future.done() or len(self.in_flight) == self.IN_FLIGHT or not result.claimed:
                self.in_flight.popleft()
                result.recorded = services.deliveries_record(
                    lease=claim.lease, answers=future.result()
                )
        result.in_flight = len(self.in_flight)
        return result

    def finish(self) -> None:
        """Record what is still out (after a stop: abandoned requests hand their deliveries
        back)."""
        while self.in_flight:
            claim, future = self.in_flight.popleft()
            services.deliveries_record(lease=claim.lease, answers=future.result())

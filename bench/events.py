"""Events and webhooks:

- what writing events costs: the burn-down (2,000 free people, 5,000 pending tasks, its
  batches of 500 as the assigner's cycle runs them, on and off alternating) and completes
  (in-process `task_complete`, each with its next task, on and off alternating call by
  call), against the same code with emission stubbed out;
- one delivery worker (`manage.py run_webhooks`) against a local receiver (a process of
  its own, verifying every signature): events delivered per second, 3 events per task so
  that the per-task order is in play;
- event → delivery latency while people work: 16 people complete task after task over HTTP
  (gunicorn, the assigner and one delivery worker running), receiver's arrival time minus
  the event's timestamp (both this machine's clock).
"""

import asyncio
import contextlib
import json
import sys
import time
import urllib.request
from datetime import datetime

from . import client, db
from .report import Result
from .server import Assigner, Gunicorn, Process, free_port
from .stats import median, percentile

PEOPLE = 2000
PENDING = 5000
BURN_DOWN_ROUNDS = 3  # resets per repetition, each 2,000 pairs in batches of 500
COMPLETE_PEOPLE = 200
COMPLETES = 600
THROUGHPUT_TASKS = 3000  # × 3 events
LATENCY_WORKERS = 16
LATENCY_COMPLETES = 600


@contextlib.contextmanager
def events_stubbed():
    """Emission stubbed out: the engine's calls into `events.services` do nothing."""
    from events import services

    names = ("event_emit", "events_emit_for_tasks", "events_emit_for_people")
    saved = {n: getattr(services, n) for n in names}
    for n in names:
        setattr(services, n, lambda *args, **kwargs: None)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(services, n, f)


def clear_events() -> None:
    db.execute("DELETE FROM qc_webhook_deliveries")
    db.execute("DELETE FROM qc_events")


def burn_down(ids: list[int]) -> tuple[float, float]:
    """The burn-down batch by batch (`assignment_assign_batch`, 500 pairs each, as the
    assigner's cycle runs them), events on and stubbed out alternating in pairs of batches
    (on, off, off, on, …) so that the machine's drift falls on both: (assignments/s on,
    assignments/s stubbed), each from the median batch."""
    from django.conf import settings

    from tasks.assigner import assignment_assign_batch

    size = settings.QC_ASSIGN_BATCH_SIZE
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(BURN_DOWN_ROUNDS):
        clear_events()
        db.reset_work(signed_in=ids, pending=PENDING)
        for n in range(min(len(ids), PENDING) // size):
            stubbed = n % 4 in (1, 2)
            with events_stubbed() if stubbed else contextlib.nullcontext():
                started = time.perf_counter()
                pairs = assignment_assign_batch()
                times[stubbed].append(time.perf_counter() - started)
            if len(pairs) != size:
                raise RuntimeError(f"burn-down batch assigned {len(pairs)}")
    return size / median(times[False]), size / median(times[True])


def completes(ids: list[int]) -> tuple[float, float]:
    """Completes in a row, in-process, each with its next task, alternating events on and
    stubbed out in pairs (on, off, off, on, …) so that the machine's drift falls on both:
    (completes/s on, completes/s stubbed), each from the median time of a complete."""
    from tasks.assigner import assignment_cycle
    from tasks.services import task_complete

    clear_events()
    db.reset_work(signed_in=ids, pending=len(ids) + COMPLETES + 10)
    assignment_cycle()
    current = dict(
        db.fetchall("SELECT assigned_to_id, id FROM qc_tasks WHERE status = 'IN_PROGRESS'")
    )
    people = list(current)
    times: dict[bool, list[float]] = {True: [], False: []}
    for n in range(COMPLETES):
        stubbed = n % 4 in (1, 2)
        person = people[n % len(people)]
        with events_stubbed() if stubbed else contextlib.nullcontext():
            started = time.perf_counter()
            result = task_complete(task_id=current[person], person_id=person)
            times[stubbed].append(time.perf_counter() - started)
        current[person] = result.next_task.pk
    return 1 / median(times[False]), 1 / median(times[True])


def _paired_interleaved(ctx, name: str, measure) -> tuple[list[float], list[float]]:
    on, off = [], []
    measure()  # warm-up
    for rep in range(ctx.repeat):
        a, b = measure()
        on.append(a)
        off.append(b)
        ctx.log(f"  {name} rep {rep + 1}: events on {a:,.0f}/s, stubbed {b:,.0f}/s ({a / b:.2f}×)")
    return on, off


class ReceiverProcess(Process):
    """`python -m events.testing`: the receiver in a process of its own."""

    def __init__(self, env: dict, log, secret: str):
        self.port = free_port()
        super().__init__(
            [sys.executable, "-m", "events.testing", "--port", str(self.port), "--secret", secret],
            env=env,
            log=log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.received()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the receiver did not start; see {log}")

    def received(self) -> dict:
        url = f"http://127.0.0.1:{self.port}/_received"
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.loads(r.read())


def _delivered() -> int:
    return db.scalar("SELECT COUNT(*) FROM qc_webhook_deliveries WHERE status = 'delivered'")


def _wait_delivered(n: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _delivered() >= n:
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"only {_delivered()} of {n} delivered within {timeout}s")


def throughput(ctx, env) -> list[float]:
    from django.db import transaction

    from events import services
    from events.models import EventType

    rates = []
    secret = services.endpoint_create(url="http://127.0.0.1:1/").secret
    with ReceiverProcess(env, ctx.workdir / "receiver.log", secret) as receiver:
        from events.models import WebhookEndpoint

        WebhookEndpoint.objects.update(url=f"http://127.0.0.1:{receiver.port}/hook")
        with Process(
            [sys.executable, "manage.py", "run_webhooks"],
            env=env,
            log=ctx.workdir / "webhooks-throughput.log",
        ):
            time.sleep(3)  # started and idle
            for rep in range(ctx.repeat_long):
                clear_events()
                db.settle()
                rows = [(10_000_000 + i, 1, None) for i in range(THROUGHPUT_TASKS)]
                with transaction.atomic():
                    for type_ in (
                        EventType.TASK_CREATED,
                        EventType.TASK_ASSIGNED,
                        EventType.TASK_COMPLETED,
                    ):
                        services.events_emit_for_tasks(type_, rows)
                n = 3 * THROUGHPUT_TASKS
                seconds = _wait_delivered(n, timeout=120)
                rates.append(n / seconds)
                figures = receiver.received()
                if figures["bad_signatures"]:
                    raise RuntimeError(f"{figures['bad_signatures']} bad signatures")
                ctx.log(f"  webhooks rep {rep + 1}: {n:,} events in {seconds:.2f}s")
    return rates


async def _sign_in_and_complete(port: int, people: list[dict], budget: int) -> int:
    done = {"n": 0}

    async def worker(person):
        r = await client.request(
            port,
            "POST",
            "/personnel/login",
            token=person["token"],
            body={"person_id": person["id"]},
        )
        task = (r.json() or {}).get("current_task")
        while task and done["n"] < budget:
            done["n"] += 1
            r = await client.request(
                port, "POST", f"/tasks/{task['id']}/complete", token=person["token"]
            )
            task = (r.json() or {}).get("next_task") if r.status == 200 else None
        await client.request(
            port, "POST", f"/personnel/{person['id']}/logout", token=person["token"]
        )

    await asyncio.gather(*(worker(p) for p in people))
    return done["n"]


def latency(ctx, env) -> tuple[list[float], list[float]]:
    from events import services
    from events.models import WebhookEndpoint

    p99s, p50s = [], []
    secret = WebhookEndpoint.objects.get().secret
    people = ctx.people[:LATENCY_WORKERS]
    with (
        ReceiverProcess(env, ctx.workdir / "receiver-latency.log", secret) as receiver,
        Gunicorn(env, ctx.workdir / "gunicorn-events.log") as web,
        Assigner(env, ctx.workdir / "assigner-events.log"),
        Process(
            [sys.executable, "manage.py", "run_webhooks"],
            env=env,
            log=ctx.workdir / "webhooks-latency.log",
        ),
    ):
        WebhookEndpoint.objects.update(url=f"http://127.0.0.1:{receiver.port}/hook")
        time.sleep(2)
        for rep in range(ctx.repeat_long):
            clear_events()
            db.reset_work(signed_in=[], pending=LATENCY_COMPLETES + 100)
            WebhookEndpoint.objects.update(cursor=services.events_last_seq())
            before = len(receiver.received()["received"])
            client.run(_sign_in_and_complete(web.port, people, LATENCY_COMPLETES))
            services.events_sequence()
            total = db.scalar("SELECT COUNT(*) FROM qc_events")
            _wait_delivered(total, timeout=60)
            got = receiver.received()["received"][before:]
            waits = [
                (r["wall"] - datetime.fromisoformat(r["payload"]["timestamp"]).timestamp()) * 1000
                for r in got
            ]
            p99s.append(percentile(waits, 99))
            p50s.append(percentile(waits, 50))
            ctx.log(
                f"  webhook latency rep {rep + 1}: {len(waits)} events, p50 {p50s[-1]:.0f} ms,"
                f" p99 {p99s[-1]:.0f} ms"
            )
    return p99s, p50s


def run(ctx) -> list[Result]:
    from django.conf import settings

    # The receiver listens on 127.0.0.1 over plain http.
    env = {**ctx.env, "QC_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    settings.QC_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]

    ids = [p["id"] for p in ctx.people[:PEOPLE]]
    burn_on, burn_off = _paired_interleaved(ctx, "burn-down", lambda: burn_down(ids))
    few = ids[:COMPLETE_PEOPLE]
    done_on, done_off = _paired_interleaved(ctx, "complete", lambda: completes(few))
    burn_ratio = [a / b for a, b in zip(burn_on, burn_off, strict=True)]
    done_ratio = [a / b for a, b in zip(done_on, done_off, strict=True)]
    results = [
        Result(
            "events",
            f"burn-down with events, {PEOPLE:,} free / {PENDING:,} pending, batch by batch,"
            " on and stubbed alternating (assignments/s, from the median batch)",
            "/s",
            burn_on,
            baseline="emission stubbed out",
            baseline_runs=burn_off,
            ratio_runs=burn_ratio,
            goal="≥ 0.9× (events cost ≤ 10 %)",
            met=median(burn_ratio) >= 0.9,
        ),
        Result(
            "events",
            f"complete with events, in-process, {COMPLETES} in a row, on and stubbed"
            " alternating (completes/s, from the median)",
            "/s",
            done_on,
            baseline="emission stubbed out",
            baseline_runs=done_off,
            ratio_runs=done_ratio,
            goal="≥ 0.9× (events cost ≤ 10 %)",
            met=median(done_ratio) >= 0.9,
        ),
    ]
    rates = throughput(ctx, env)
    results.append(
        Result(
            "events",
            f"one run_webhooks worker → local receiver, {3 * THROUGHPUT_TASKS:,} events"
            " (3 per task, in order) (events/s)",
            "/s",
            rates,
            goal="≥ 1,000/s",
            met=median(rates) >= 1000,
        )
    )
    p99s, p50s = latency(ctx, env)
    results.append(
        Result(
            "events",
            f"event → delivery p99 while {LATENCY_WORKERS} people complete over HTTP",
            "ms",
            p99s,
            goal="p99 ≤ 2,000 ms",
            met=median(p99s) <= 2000,
            extra={"p50_ms": p50s},
        )
    )
    return results

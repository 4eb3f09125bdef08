"""Time to assign, with `run_assigner` running at its default interval:

- created → assigned: tasks posted one by one (and one bulk post) through `POST /tasks`
  while people are free; the wait is the assignment's `assigned_at` minus the task's
  `created_at`, both on the database's clock.
- complete → next: people complete their tasks through `POST /tasks/{id}/complete` while
  tasks wait; the next task must come in the same answer (one request), and its latency
  and the completes per second are recorded.
"""

import asyncio
import random
import time

from . import client, db
from .report import Result
from .server import Assigner, Gunicorn
from .stats import median, percentile

FREE_PEOPLE = 150
SINGLE_TASKS = 80
BULK_TASKS = 40
RATE = 20.0  # single tasks per second, Poisson arrivals

WORKERS = 16  # people completing at once
COMPLETES = 400
BACKLOG = 2000


async def _create_tasks(port: int, token: str, n: int, bulk: int) -> list[int]:
    ids: list[int] = []

    async def post(body):
        r = await client.request(port, "POST", "/tasks", token=token, body=body)
        if r.status != 201:
            raise RuntimeError(f"POST /tasks: {r.status} {r.body[:200]!r}")
        data = r.json()
        ids.extend(t["id"] for t in (data if isinstance(data, list) else [data]))

    pending = []
    for i in range(n):
        pending.append(asyncio.create_task(post({"description": f"latency probe {i}"})))
        if i == n // 2:
            pending.append(
                asyncio.create_task(post([{"description": f"bulk {j}"} for j in range(bulk)]))
            )
        await asyncio.sleep(random.expovariate(RATE))
    await asyncio.gather(*pending)
    return ids


def _waits_ms(task_ids: list[int], timeout: float) -> list[float]:
    """created → first assigned, per task (∞ for a task still unassigned at the deadline)."""
    marks = ",".join(["%s"] * len(task_ids))
    deadline = time.monotonic() + timeout
    while True:
        rows = db.fetchall(
            "SELECT t.id, TIMESTAMPDIFF(MICROSECOND, t.created_at, MIN(a.assigned_at))"
            f" FROM qc_tasks t LEFT JOIN qc_assignments a ON a.task_id = t.id"
            f" WHERE t.id IN ({marks}) GROUP BY t.id, t.created_at",
            task_ids,
        )
        if all(w is not None for _, w in rows) or time.monotonic() > deadline:
            return [float("inf") if w is None else w / 1000 for _, w in rows]
        time.sleep(0.2)


async def complete_loop(
    port: int, people: list[dict], current: dict[int, int], budget: int, body=None
) -> list[dict]:
    """Each worker is one person completing task after task; the answer's `next_task` is
    what they complete next, so each handoff must be exactly one request. `body`: the JSON
    body of every complete (a verdict), none by default (a bare complete)."""
    out: list[dict] = []
    counter = {"left": budget}

    async def worker(person: dict, task_id: int | None):
        while task_id is not None and counter["left"] > 0:
            counter["left"] -= 1
            r = await client.request(
                port, "POST", f"/tasks/{task_id}/complete", token=person["token"], body=body
            )
            nxt = (r.json() or {}).get("next_task") if r.status == 200 else None
            out.append({"status": r.status, "ms": r.seconds * 1000, "next": nxt is not None})
            task_id = nxt["id"] if nxt else None

    await asyncio.gather(*(worker(p, current.get(p["id"])) for p in people))
    return out


def run(ctx) -> list[Result]:
    people = ctx.people[:FREE_PEOPLE]
    token = ctx.supervisor["token"]
    waits_p99, waits_p50, waits_max = [], [], []
    complete_p99, complete_p50, one_request, rates = [], [], [], []
    with (
        Gunicorn(ctx.env, ctx.workdir / "gunicorn-latency.log") as web,
        Assigner(ctx.env, ctx.workdir / "assigner-latency.log"),
    ):
        for rep in range(ctx.repeat_long):
            # created → assigned
            db.reset_work(signed_in=[p["id"] for p in people], pending=0)
            ids = client.run(_create_tasks(web.port, token, SINGLE_TASKS, BULK_TASKS))
            waits = _waits_ms(ids, timeout=15)
            waits_p99.append(percentile(waits, 99))
            waits_p50.append(percentile(waits, 50))
            waits_max.append(max(waits))
            # complete → next
            workers = people[:WORKERS]
            db.reset_work(signed_in=[], pending=BACKLOG)
            # Everyone gets a task by signing in through the API, as a person would.
            client.run(sign_in(web.port, workers))
            current = dict(
                db.fetchall("SELECT assigned_to_id, id FROM qc_tasks WHERE status = 'IN_PROGRESS'")
            )
            started = time.monotonic()
            results = client.run(complete_loop(web.port, workers, current, COMPLETES))
            elapsed = time.monotonic() - started
            bad = [r for r in results if r["status"] != 200]
            if bad:
                raise RuntimeError(f"complete: {len(bad)} failed, e.g. {bad[:3]}")
            ms = [r["ms"] for r in results]
            complete_p99.append(percentile(ms, 99))
            complete_p50.append(percentile(ms, 50))
            one_request.append(100.0 * sum(r["next"] for r in results) / len(results))
            rates.append(len(results) / elapsed)
            ctx.log(
                f"  time to assign rep {rep + 1}: created→assigned p50 {waits_p50[-1]:.0f} ms"
                f" p99 {waits_p99[-1]:.0f} ms max {waits_max[-1]:.0f} ms; complete→next"
                f" p50 {complete_p50[-1]:.0f} ms p99 {complete_p99[-1]:.0f} ms,"
                f" {one_request[-1]:.0f}% in one request, {rates[-1]:.0f} completes/s"
            )
    return [
        Result(
            "time to assign",
            f"created → assigned, p99 ({SINGLE_TASKS} single + {BULK_TASKS} bulk POST /tasks)",
            "ms",
            waits_p99,
            goal="p99 ≤ 1,000 ms",
            met=median(waits_p99) <= 1000,
            extra={"p50_ms": waits_p50, "max_ms": waits_max},
        ),
        Result(
            "time to assign",
            "complete → next: answers carrying the next task",
            "%",
            one_request,
            goal="100% (one request)",
            met=min(one_request) >= 100.0,
        ),
        Result(
            "time to assign",
            f"complete → next: POST /tasks/{{id}}/complete p99 ({WORKERS} people at once)",
            "ms",
            complete_p99,
            extra={"p50_ms": complete_p50},
        ),
        Result(
            "time to assign",
            "completes per second over HTTP (each with its next task)",
            "/s",
            rates,
        ),
    ]


async def sign_in(port: int, people: list[dict]) -> None:
    """`people` sign in through `POST /personnel/login`, eight at a time."""
    for chunk in range(0, len(people), 8):
        await asyncio.gather(
            *(
                client.request(
                    port, "POST", "/personnel/login", token=p["token"], body={"person_id": p["id"]}
                )
                for p in people[chunk : chunk + 8]
            )
        )

"""Shift start: 500 people sign in through the HTTP API within one second while 5,000
tasks wait. Per person: the time from sending the sign-in to having a task (the sign-in
answer carries `current_task` when one is given at once; otherwise the person polls)."""

import asyncio
import random
import time

from . import client, db
from .report import Result
from .server import Gunicorn
from .stats import median, percentile

PEOPLE = 500
PENDING = 5000
WINDOW = 1.0
POLL = 0.05


async def _person(port: int, person: dict, delay: float, t0: float) -> dict:
    await asyncio.sleep(max(0.0, t0 + delay - time.monotonic()))
    sent = time.monotonic()
    r = await client.request(
        port, "POST", "/personnel/login", token=person["token"], body={"person_id": person["id"]}
    )
    out = {"status": r.status, "login_s": r.seconds, "polls": 0}
    task = (r.json() or {}).get("current_task") if r.status == 200 else None
    while task is None and time.monotonic() - sent < 30:
        out["polls"] += 1
        await asyncio.sleep(POLL)
        r = await client.request(port, "GET", f"/personnel/{person['id']}", token=person["token"])
        task = (r.json() or {}).get("current_task") if r.status == 200 else None
    out["to_task_s"] = time.monotonic() - sent if task else float("inf")
    return out


async def _shift(port: int, people: list[dict]) -> list[dict]:
    delays = sorted(random.uniform(0, WINDOW) for _ in people)
    t0 = time.monotonic() + 0.05
    return await asyncio.gather(
        *(_person(port, p, d, t0) for p, d in zip(people, delays, strict=True))
    )


async def _warm(port: int, people: list[dict]) -> None:
    # Every worker answers a few authenticated requests first (imports, URL resolver).
    for _ in range(3):
        await asyncio.gather(
            *(
                client.request(port, "GET", f"/personnel/{p['id']}", token=p["token"])
                for p in people[:20]
            )
        )


def run(ctx) -> list[Result]:
    people = ctx.people[:PEOPLE]
    p99s, p50s, rates = [], [], []
    with Gunicorn(ctx.env, ctx.workdir / "gunicorn-shift.log") as web:
        for rep in range(ctx.repeat):
            db.reset_work(signed_in=[], pending=PENDING)
            client.run(_warm(web.port, people))
            started = time.monotonic()
            outcomes = client.run(_shift(web.port, people))
            elapsed = time.monotonic() - started
            errors = [o for o in outcomes if o["status"] != 200]
            if errors:
                raise RuntimeError(f"shift start: {len(errors)} sign-ins failed: {errors[:3]}")
            busy = db.scalar("SELECT COUNT(*) FROM qc_tasks WHERE status = 'IN_PROGRESS'")
            if busy != PEOPLE:
                raise RuntimeError(f"shift start: {busy} tasks in progress, expected {PEOPLE}")
            times = [o["to_task_s"] * 1000 for o in outcomes]
            p99s.append(percentile(times, 99))
            p50s.append(percentile(times, 50))
            rates.append(PEOPLE / elapsed)
            polled = sum(1 for o in outcomes if o["polls"])
            ctx.log(
                f"  shift start rep {rep + 1}: p50 {p50s[-1]:.0f} ms, p99 {p99s[-1]:.0f} ms,"
                f" max {max(times):.0f} ms, {polled} polled, {rates[-1]:.0f} sign-ins/s"
            )
    return [
        Result(
            "shift start",
            f"{PEOPLE} sign-ins over HTTP within {WINDOW:.0f} s: sign-in → task, p99",
            "ms",
            p99s,
            goal="p99 ≤ 1,000 ms",
            met=median(p99s) <= 1000,
            extra={"p50_ms": p50s, "completed_per_s": rates, "workers": web.workers},
        ),
        Result("shift start", "sign-in → task, p50", "ms", p50s),
    ]

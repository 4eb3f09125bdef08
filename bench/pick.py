"""The pick for one person over a deep queue: 1,000 against 1,000,000 pending tasks (10
priorities, 8 skills and tasks for anyone, created over the last two days so that aging
reorders them), with the same person (two skills) signed in to each.

Measured in-process, as complete → next and sign-in run it: lock the person, pick their
next task (the routing groups' heads read through the covering index, the best locked by
key), then roll back, so that every call sees the same queue. The two databases are
measured alternately in each repetition; the ratio is deep / shallow. EXPLAIN of the
pick's read on the deep queue is printed: every range must be read through its index,
without a filesort or a full scan.
"""

import time

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from . import db
from .report import Result
from .stats import median

CALLS = 200
SKILLS = [f"skill-{i}" for i in range(8)]
CHUNK = 250_000


class _Rollback(Exception):
    pass


def _fill(ctx, name: str, pending: int) -> int:
    """A migrated database `name` with `pending` tasks waiting and one person, signed in and
    free, with two skills. Returns the person's id."""
    db.recreate(ctx.url, name)
    (person,) = db.make_people(1, prefix="p")
    db.execute(
        "UPDATE qc_personnel SET skills = %s WHERE id = %s",
        ['["skill-2", "skill-5"]', person["id"]],
    )
    db.sign_in([person["id"]])
    started = time.monotonic()
    for lo in range(1, pending + 1, CHUNK):
        hi = min(pending, lo + CHUNK - 1)
        db.execute(
            "INSERT INTO qc_tasks (description, status, created_at, priority, skill)"
            " SELECT 'waiting', 'PENDING', NOW(6) - INTERVAL (seq * 7919 MOD 172800) SECOND,"
            " seq MOD 10, ELT(1 + (seq DIV 10) MOD 12, NULL, NULL, NULL, NULL,"
            " %s, %s, %s, %s, %s, %s, %s, %s)"
            f" FROM seq_{lo}_to_{hi}",
            SKILLS,
        )
    db.analyze()
    db.settle()
    ctx.log(f"  {name}: {pending:,} pending tasks in {time.monotonic() - started:.0f} s")
    return person["id"]


def _pick(person_id: int):
    from tasks import engine, sql

    def call():
        try:
            with transaction.atomic():
                person = engine.person_lock(person_id)
                row = engine.tasks_pick([engine.Taker.of(person)], now=person.db_now).get(person_id)
                if row is None:
                    raise RuntimeError("the pick found nothing")
                call.task = sql.task_from_row(row)
                raise _Rollback
        except _Rollback:
            pass

    return call


def _time(call) -> float:
    for _ in range(10):
        call()  # warm
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return median(times)


def _explain(call) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        call()
    lines = []
    for q in queries.captured_queries:
        sql = q["sql"]
        if "UNION ALL" not in sql and "FOR UPDATE SKIP LOCKED" not in sql:
            continue
        with connection.cursor() as cur:
            cur.execute("EXPLAIN " + sql.replace(" FOR UPDATE SKIP LOCKED", ""))
            cols = [c[0].lower() for c in cur.description]
            for r in cur.fetchall():
                row = dict(zip(cols, r, strict=True))
                lines.append(
                    f"{row['id']!s:>4} {row['select_type']!s:<18} {row['table']!s:<8}"
                    f" type={row['type']!s:<6} key={row['key']} rows={row['rows']}"
                    f" {row['extra'] or ''}"
                )
        lines.append("")
    return lines


def run(ctx) -> list[Result]:
    shallow, deep = f"{db.current()}_p1k", f"{db.current()}_p1m"
    sizes = {shallow: 1_000, deep: ctx.args.pick_pending}
    people = {name: _fill(ctx, name, n) for name, n in sizes.items()}
    times: dict[str, list[float]] = {shallow: [], deep: []}
    picked = {}
    try:
        for rep in range(ctx.repeat):
            for name in [shallow, deep] if rep % 2 == 0 else [deep, shallow]:
                db.use(name)
                call = _pick(people[name])
                times[name].append(_time(call))
                picked[name] = call.task
            ctx.log(f"  pick rep {rep + 1}: {times[deep][-1]:.2f} / {times[shallow][-1]:.2f} ms")
        db.use(deep)
        plan = _explain(_pick(people[deep]))
        ctx.log("  EXPLAIN of the pick on the deep queue (the read, then the lock):")
        for line in plan:
            print("    " + line)
    finally:
        for name in sizes:
            db.drop(ctx.url, name)
    scans = [ln for ln in plan if "type=ALL" in ln or "filesort" in ln]
    ratio = [d / s for d, s in zip(times[deep], times[shallow], strict=True)]
    chosen = picked[deep]
    return [
        Result(
            "pick",
            f"next task for one person (2 skills), {sizes[deep]:,} pending",
            "ms",
            times[deep],
            baseline=f"at {sizes[shallow]:,}",
            baseline_runs=times[shallow],
            ratio_runs=ratio,
            goal="≤ 1.5×, index access",
            met=median(ratio) <= 1.5 and not scans,
            note=f"picked priority {chosen.priority}, skill {chosen.skill}"
            + ("; " + "; ".join(scans) if scans else ""),
            extra={"explain": plan},
        )
    ]

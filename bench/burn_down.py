"""Burn-down: 2,000 free people and 5,000 pending tasks; how fast does one engine cycle
assign all it can, against raw SQL doing the same work?

Baselines, measured in the same repetition on the same tables:
- raw batched: the engine's statements written by hand (SKIP LOCKED, same batch size):
  the rate the database allows, which the engine should approach;
- seed loop: one pair per transaction, as the seed's scheduler did, bounded by commits.

And routing: the same engine cycle when the tasks have 10 priorities and 8 skills (a third
for anyone), created over the last two hours (so that aging reorders them), and each person
has 1–3 of the skills, against the engine's rate on the plain queue (every task priority 0,
for anyone: FIFO) in the same repetition.
"""

import time

from django.conf import settings

from . import db
from .report import Result
from .stats import median

PEOPLE = 2000
PENDING = 5000
SKILLS = [f"skill-{i}" for i in range(8)]


# The baselines' hot statements, in one place. Raw SQL on purpose: these are the yardstick
# the ORM engine is measured against, so they must be what a hand-tuned loop would send.
FREE_PEOPLE = (
    "SELECT id FROM qc_personnel WHERE is_logged_in = 1 AND is_busy = 0"
    " AND last_heartbeat >= NOW(6) - INTERVAL %s SECOND"
    " ORDER BY idle_since, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
OLDEST_PENDING = (
    "SELECT id FROM qc_tasks WHERE status = 'PENDING'"
    " ORDER BY created_at, id LIMIT %s FOR UPDATE SKIP LOCKED"
)


def _write_pairs(cur, pairs: list[tuple[int, int]]) -> None:
    people = [p for p, _ in pairs]
    tasks = [t for _, t in pairs]
    marks = ",".join(["%s"] * len(pairs))
    cur.execute(
        f"UPDATE qc_personnel SET is_busy = 1, idle_since = NULL WHERE id IN ({marks})", people
    )
    cur.execute(
        "UPDATE qc_tasks SET status = 'IN_PROGRESS', assigned_to_id = CASE id"
        + " WHEN %s THEN %s" * len(pairs)
        + " END, first_assigned_at = COALESCE(first_assigned_at, NOW(6))"
        + f" WHERE id IN ({marks})",
        [x for p, t in pairs for x in (t, p)] + tasks,
    )
    cur.execute(
        "INSERT INTO qc_assignments (task_id, person_id, assigned_at, source, end_reason)"
        " VALUES " + ",".join(["(%s, %s, NOW(6), 'ASSIGNER', '')"] * len(pairs)),
        [x for p, t in pairs for x in (t, p)],
    )


def raw_batched(conn, batch: int) -> int:
    timeout = settings.QC_HEARTBEAT_TIMEOUT
    cur = conn.cursor()
    total = 0
    while True:
        cur.execute(FREE_PEOPLE, [timeout, batch])
        people = [r[0] for r in cur.fetchall()]
        pairs = []
        if people:
            cur.execute(OLDEST_PENDING, [len(people)])
            pairs = list(zip(people, [r[0] for r in cur.fetchall()], strict=False))
            if pairs:
                _write_pairs(cur, pairs)
        conn.commit()
        total += len(pairs)
        if len(pairs) < batch:
            return total


def seed_loop(conn) -> int:
    timeout = settings.QC_HEARTBEAT_TIMEOUT
    cur = conn.cursor()
    total = 0
    while True:
        cur.execute(FREE_PEOPLE, [timeout, 1])
        person = cur.fetchone()
        task = None
        if person:
            cur.execute(OLDEST_PENDING, [1])
            task = cur.fetchone()
            if task:
                _write_pairs(cur, [(person[0], task[0])])
        conn.commit()
        if not task:
            return total
        total += 1


def engine() -> int:
    from tasks.assigner import assignment_cycle

    return assignment_cycle().assigned


def routed(ids: list[int]) -> None:
    """The people get 1–3 skills each and the pending tasks a priority, a skill (or none)
    and an age of up to two hours, in SQL (the same every repetition: seeded)."""
    import json
    import random

    rng = random.Random(42)
    for person_id in ids:
        skills = sorted(rng.sample(SKILLS, rng.randint(1, 3)))
        db.execute(
            "UPDATE qc_personnel SET skills = %s WHERE id = %s", [json.dumps(skills), person_id]
        )
    db.execute(
        "UPDATE qc_tasks SET priority = id MOD 10,"
        " skill = ELT(1 + (id DIV 10) MOD 12, NULL, NULL, NULL, NULL, %s, %s, %s, %s, %s, %s,"
        " %s, %s),"
        " created_at = created_at - INTERVAL ((id * 7919) MOD 7200) SECOND"
        " WHERE status = 'PENDING'",
        SKILLS,
    )
    db.settle()


def unrouted() -> None:
    db.execute("UPDATE qc_personnel SET skills = '[]'")


def run(ctx) -> list[Result]:
    people = ctx.people[:PEOPLE]
    ids = [p["id"] for p in people]
    batch = settings.QC_ASSIGN_BATCH_SIZE
    conn = db.raw_connection()
    variants = {
        "engine": engine,
        "raw batched": lambda: raw_batched(conn, batch),
        "seed loop": lambda: seed_loop(conn),
        "routing": engine,
    }
    rates = {name: [] for name in variants}
    served = []

    def timed(name):
        db.reset_work(signed_in=ids, pending=PENDING)
        if name == "routing":
            routed(ids)
        started = time.perf_counter()
        assigned = variants[name]()
        seconds = time.perf_counter() - started
        if name == "routing":
            unrouted()
            served.append(assigned)
        expected = min(len(ids), PENDING)
        # With skills, a person may find every task they could take given to someone else.
        if assigned != expected and not (name == "routing" and assigned >= 0.95 * expected):
            raise RuntimeError(f"burn-down {name}: assigned {assigned}, expected {expected}")
        return assigned / seconds

    try:
        timed("engine")  # warm-up: imports, first statements
        timed("raw batched")
        timed("routing")
        order = list(variants)
        for rep in range(ctx.repeat):
            # Rotate the order so that no variant always runs first after a reset.
            shift = rep % len(order)
            for name in order[shift:] + order[:shift]:
                rates[name].append(timed(name))
            ctx.log(
                f"  burn-down rep {rep + 1}: "
                + ", ".join(f"{n} {rates[n][-1]:,.0f}/s" for n in variants)
            )
    finally:
        unrouted()
        conn.close()
    ratio = [e / r for e, r in zip(rates["engine"], rates["raw batched"], strict=True)]
    seed_ratio = [e / s for e, s in zip(rates["engine"], rates["seed loop"], strict=True)]
    routing_ratio = [r / e for r, e in zip(rates["routing"], rates["engine"], strict=True)]
    return [
        Result(
            "burn-down",
            f"engine cycle, {PEOPLE:,} free / {PENDING:,} pending (assignments/s)",
            "/s",
            rates["engine"],
            baseline="raw batched SQL",
            baseline_runs=rates["raw batched"],
            ratio_runs=ratio,
            goal="≥ 0.5× raw batched",
            met=median(ratio) >= 0.5,
            note=f"batch size {batch}",
        ),
        Result(
            "burn-down",
            "engine vs the seed's one-pair-per-transaction loop",
            "/s",
            rates["engine"],
            baseline="seed loop",
            baseline_runs=rates["seed loop"],
            ratio_runs=seed_ratio,
        ),
        Result(
            "burn-down",
            "routing: 10 priorities, 8 skills (1–3 a person), aged up to 2 h (assignments/s)",
            "/s",
            rates["routing"],
            baseline="engine, FIFO",
            baseline_runs=rates["engine"],
            ratio_runs=routing_ratio,
            goal="≥ 0.5× FIFO",
            met=median(routing_ratio) >= 0.5,
            note=f"{min(served):,}–{max(served):,} of {min(PEOPLE, PENDING):,} people served",
        ),
    ]

"""Burn-down: 2,000 free people and 5,000 pending tasks; how fast does one engine cycle
assign all it can, against raw SQL doing the same work?

Baselines, measured in the same repetition on the same tables:
- raw batched: the engine's statements written by hand (SKIP LOCKED, same batch size):
  the rate the database allows, which the engine should approach;
- seed loop: one pair per transaction, as the seed's scheduler did, bounded by commits.
"""

import time

from django.conf import settings

from . import db
from .report import Result
from .stats import median

PEOPLE = 2000
PENDING = 5000


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


def run(ctx) -> list[Result]:
    people = ctx.people[:PEOPLE]
    ids = [p["id"] for p in people]
    batch = settings.QC_ASSIGN_BATCH_SIZE
    conn = db.raw_connection()
    variants = {
        "engine": engine,
        "raw batched": lambda: raw_batched(conn, batch),
        "seed loop": lambda: seed_loop(conn),
    }
    rates = {name: [] for name in variants}

    def timed(name):
        db.reset_work(signed_in=ids, pending=PENDING)
        started = time.perf_counter()
        assigned = variants[name]()
        seconds = time.perf_counter() - started
        expected = min(len(ids), PENDING)
        if assigned != expected:
            raise RuntimeError(f"burn-down {name}: assigned {assigned}, expected {expected}")
        return assigned / seconds

    timed("engine")  # warm-up: imports, first statements
    timed("raw batched")
    order = list(variants)
    for rep in range(ctx.repeat):
        # Rotate the order so that no variant always runs first after a reset.
        for name in order[rep % 3 :] + order[: rep % 3]:
            rates[name].append(timed(name))
        ctx.log(
            f"  burn-down rep {rep + 1}: "
            + ", ".join(f"{n} {rates[n][-1]:,.0f}/s" for n in variants)
        )
    conn.close()
    ratio = [e / r for e, r in zip(rates["engine"], rates["raw batched"], strict=True)]
    seed_ratio = [e / s for e, s in zip(rates["engine"], rates["seed loop"], strict=True)]
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
    ]

"""Burn-down with two reviews a task: the queue worked down to done, every task needing
`reviews_required=2` (two different people), against the same with one review a task, in
the same repetition (the order alternating), ratios paired within it.

500 free people and 1,000 pending tasks; in rounds, in-process: the assigner's cycle
(`assignment_cycle`) hands tasks to the free people, then every holder completes theirs
with a pass (`task_complete`, each answer carrying the holder's next task, as over HTTP),
until no task waits or is in progress. With two reviews, a first review sends the task
back to the queue with an exclusion for its reviewer, so the pick passes over it for them
(docs/engine.md, "Outcomes"). Figures: tasks fully completed per second, and reviews (each
an assignment and a complete) per second.
"""

import time

from . import db
from .report import Result
from .stats import median

PEOPLE = 500
TASKS = 1000
VARIANTS = {"one review": 1, "two reviews": 2}


def burn_down_to_done(ids: list[int], reviews_required: int) -> dict:
    """Every task worked to COMPLETED from a fresh queue; returns tasks/s, reviews/s and the
    rounds it took. Raises when a task is left undone or with the wrong number of reviews."""
    from tasks.assigner import assignment_cycle
    from tasks.services import task_complete

    db.reset_work(signed_in=ids, pending=TASKS)
    if reviews_required != 1:
        db.execute("UPDATE qc_tasks SET reviews_required = %s", [reviews_required])
        db.settle()
    reviews = rounds = 0
    started = time.perf_counter()
    while True:
        assignment_cycle()
        holders = db.fetchall(
            "SELECT assigned_to_id, id FROM qc_tasks WHERE status = 'IN_PROGRESS' ORDER BY id"
        )
        if not holders:
            break
        rounds += 1
        for person_id, task_id in holders:
            task_complete(task_id=task_id, person_id=person_id, outcome="pass")
        reviews += len(holders)
    seconds = time.perf_counter() - started
    done = db.scalar(
        "SELECT COUNT(*) FROM qc_tasks WHERE status = 'COMPLETED' AND outcome = 'pass'"
        " AND reviews_done = %s",
        [reviews_required],
    )
    if done != TASKS or reviews != TASKS * reviews_required:
        raise RuntimeError(
            f"burn-down, {reviews_required} review(s): {done} of {TASKS} tasks done,"
            f" {reviews} reviews"
        )
    return {"tasks": TASKS / seconds, "reviews": reviews / seconds, "rounds": rounds}


def run(ctx) -> list[Result]:
    ids = [p["id"] for p in ctx.people[:PEOPLE]]
    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for required in VARIANTS.values():  # warm-up: imports, first statements
        burn_down_to_done(ids, required)
    for rep in range(ctx.repeat_long):
        order = list(VARIANTS) if rep % 2 == 0 else list(reversed(VARIANTS))
        for name in order:
            runs[name].append(burn_down_to_done(ids, VARIANTS[name]))
        one, two = runs["one review"][-1], runs["two reviews"][-1]
        ctx.log(
            f"  burn-down-reviews2 rep {rep + 1} ({' then '.join(order)}):"
            f" one review {one['tasks']:,.0f} tasks/s ({one['rounds']} rounds);"
            f" two reviews {two['tasks']:,.0f} tasks/s, {two['reviews']:,.0f} reviews/s"
            f" ({two['rounds']} rounds)"
        )

    def series(name, key):
        return [r[key] for r in runs[name]]

    def ratios(key):
        pairs = zip(series("two reviews", key), series("one review", key), strict=True)
        return [two / one for two, one in pairs]

    review_ratio = ratios("reviews")
    scale = f"{PEOPLE:,} people, {TASKS:,} tasks"
    return [
        Result(
            "burn-down-reviews2",
            f"to done, reviews_required=2 on every task ({scale}): tasks completed/s",
            "/s",
            series("two reviews", "tasks"),
            baseline="one review a task",
            baseline_runs=series("one review", "tasks"),
            ratio_runs=ratios("tasks"),
            note="twice the reviews a task: 0.5× is the same cost per review",
        ),
        Result(
            "burn-down-reviews2",
            "to done, reviews_required=2: reviews/s (each an assignment and a complete)",
            "/s",
            series("two reviews", "reviews"),
            baseline="one review a task",
            baseline_runs=series("one review", "reviews"),
            ratio_runs=review_ratio,
            goal="≥ 0.5× one review",
            met=median(review_ratio) >= 0.5,
        ),
    ]

"""Burn-down with two reviews a task: the queue worked down to done, every task needing
`reviews_required=2` (two different people), against the same with one review a task, in
the same repetition, ratios paired within it. A repetition runs them ABBA (one, two, two,
one; the next repetition BAAB) and pairs the sums, so that a drift of the machine within it
falls on both alike.

200 free people and 400 pending tasks; in rounds, in-process: the assigner's cycle
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

PEOPLE = 200
TASKS = 400
VARIANTS = {"one review": 1, "two reviews": 2}


def burn_down_to_done(ids: list[int], reviews_required: int) -> float:
    """Every task worked to COMPLETED from a fresh queue; returns the seconds it took.
    Raises when a task is left undone or with the wrong number of reviews."""
    from tasks.assigner import assignment_cycle
    from tasks.services import task_complete

    db.reset_work(signed_in=ids, pending=TASKS)
    if reviews_required != 1:
        db.execute("UPDATE qc_tasks SET reviews_required = %s", [reviews_required])
        db.settle()
    reviews = 0
    started = time.perf_counter()
    while True:
        assignment_cycle()
        holders = db.fetchall(
            "SELECT assigned_to_id, id FROM qc_tasks WHERE status = 'IN_PROGRESS' ORDER BY id"
        )
        if not holders:
            break
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
    return seconds


def run(ctx) -> list[Result]:
    ids = [p["id"] for p in ctx.people[:PEOPLE]]
    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for required in VARIANTS.values():  # warm-up: imports, first statements
        burn_down_to_done(ids, required)
    for rep in range(ctx.repeat):
        ab = list(VARIANTS) if rep % 2 == 0 else list(reversed(VARIANTS))
        order = ab + ab[::-1]
        seconds = {name: 0.0 for name in VARIANTS}
        for name in order:
            seconds[name] += burn_down_to_done(ids, VARIANTS[name])
        for name, required in VARIANTS.items():
            # Two runs of each: the rates of their summed time.
            runs[name].append(
                {
                    "tasks": 2 * TASKS / seconds[name],
                    "reviews": 2 * TASKS * required / seconds[name],
                }
            )
        one, two = runs["one review"][-1], runs["two reviews"][-1]
        ctx.log(
            f"  burn-down-reviews2 rep {rep + 1} ({', '.join(order)}):"
            f" one review {one['tasks']:,.0f} tasks/s;"
            f" two reviews {two['tasks']:,.0f} tasks/s, {two['reviews']:,.0f} reviews/s"
            f" ({two['reviews'] / one['reviews']:.2f}× the reviews/s)"
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

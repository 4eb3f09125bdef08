"""Complete with a verdict: what a review costs over a bare complete.

The complete → next load of `time-to-assign` (16 people complete task after task through
`POST /tasks/{id}/complete`, each answer carrying the next task, while 2,000 tasks wait;
gunicorn as deployed and the assigner running), once with every complete sending a review
(`VERDICT`: a fail, a short note and two defect codes of the catalogue) and once bare (no
body), in the same repetition: bare, review, review, bare (the next repetition the other
way round), each variant's two runs taken together, so that a drift of the machine within the
repetition falls on both alike; the ratios are paired within each repetition.
"""

import time

from . import client, db
from .report import Result
from .server import Assigner, Gunicorn
from .stats import median, percentile
from .time_to_assign import BACKLOG, COMPLETES, WORKERS, complete_loop, sign_in

# The catalogue's codes the reviews log (active), and the review every complete sends.
DEFECT_CODES = {"SCRATCH": "Scratch on a visible surface", "DENT": "Dent or deformation"}
VERDICT = {"outcome": "fail", "notes": "short note", "defects": ["SCRATCH", "DENT"]}
# The cost goal of a review (issue contract): ≤ 1.1× a bare complete's time.
MAX_COST = 1.1


def _completes(port: int, workers: list[dict], body, budget: int) -> dict:
    """One run from a fresh backlog: `workers` sign in (each gets a task), then complete
    `budget` tasks between them. Returns its seconds and each complete's latency (ms)."""
    db.reset_work(signed_in=[], pending=BACKLOG)
    client.run(sign_in(port, workers))
    current = dict(
        db.fetchall("SELECT assigned_to_id, id FROM qc_tasks WHERE status = 'IN_PROGRESS'")
    )
    started = time.monotonic()
    results = client.run(complete_loop(port, workers, current, budget, body=body))
    elapsed = time.monotonic() - started
    bad = [r for r in results if r["status"] != 200 or not r["next"]]
    if bad:
        raise RuntimeError(f"complete: {len(bad)} failed or without a next task, e.g. {bad[:3]}")
    if body is not None:
        # Every review was stored with its verdict and defects (the body was not ignored).
        stored = db.scalar(
            "SELECT COUNT(*) FROM qc_assignments WHERE outcome = %s AND JSON_LENGTH(defects) = %s",
            [body["outcome"], len(body["defects"])],
        )
        if stored != len(results):
            raise RuntimeError(f"complete-verdict: {stored} reviews stored of {len(results)}")
    return {"seconds": elapsed, "ms": [r["ms"] for r in results]}


def _figures(runs: list[dict]) -> dict:
    """Completes/s and latency percentiles of runs taken together."""
    ms = [x for r in runs for x in r["ms"]]
    return {
        "rate": len(ms) / sum(r["seconds"] for r in runs),
        "p50": percentile(ms, 50),
        "p99": percentile(ms, 99),
    }


def run(ctx) -> list[Result]:
    db.defect_codes(DEFECT_CODES)
    workers = ctx.people[:WORKERS]
    variants = {"bare": None, "verdict": VERDICT}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with (
        Gunicorn(ctx.env, ctx.workdir / "gunicorn-complete-verdict.log") as web,
        Assigner(ctx.env, ctx.workdir / "assigner-complete-verdict.log"),
    ):
        for body in variants.values():  # warm-up: every worker's first requests of each kind
            _completes(web.port, workers, body, COMPLETES // 4)
        for rep in range(ctx.repeat):
            ab = list(variants) if rep % 2 == 0 else list(reversed(variants))
            order = ab + ab[::-1]
            got: dict[str, list[dict]] = {name: [] for name in variants}
            for name in order:
                got[name].append(_completes(web.port, workers, variants[name], COMPLETES))
            for name, pair in got.items():
                runs[name].append(_figures(pair))
            b, v = runs["bare"][-1], runs["verdict"][-1]
            ctx.log(
                f"  complete-verdict rep {rep + 1} ({', '.join(order)}):"
                f" bare {b['rate']:.0f}/s p50 {b['p50']:.0f} ms p99 {b['p99']:.0f} ms;"
                f" verdict {v['rate']:.0f}/s p50 {v['p50']:.0f} ms p99 {v['p99']:.0f} ms"
                f" ({v['rate'] / b['rate']:.2f}× the rate)"
            )

    def series(name, key):
        return [r[key] for r in runs[name]]

    def ratios(key):
        return [v / b for v, b in zip(series("verdict", key), series("bare", key), strict=True)]

    rate_ratio = ratios("rate")
    review = "verdict, 2 defects, notes"
    return [
        Result(
            "complete-verdict",
            f"completes/s over HTTP with a review ({review}; {WORKERS} people at once)",
            "/s",
            series("verdict", "rate"),
            baseline="bare complete",
            baseline_runs=series("bare", "rate"),
            ratio_runs=rate_ratio,
            goal=f"≥ {1 / MAX_COST:.2f}× bare (cost ≤ {MAX_COST}×)",
            met=median(rate_ratio) >= 1 / MAX_COST,
            note=f"{COMPLETES} completes a run, {BACKLOG:,} waiting",
        ),
        Result(
            "complete-verdict",
            f"POST /tasks/{{id}}/complete with a review, p99 ({WORKERS} people at once)",
            "ms",
            series("verdict", "p99"),
            baseline="bare complete",
            baseline_runs=series("bare", "p99"),
            ratio_runs=ratios("p99"),
        ),
        Result(
            "complete-verdict",
            "POST /tasks/{id}/complete with a review, p50",
            "ms",
            series("verdict", "p50"),
            baseline="bare complete",
            baseline_runs=series("bare", "p50"),
            ratio_runs=ratios("p50"),
        ),
    ]

"""Memory: the assigner's RSS over 10,000 cycles against its RSS after 100 cycles."""

import json
import subprocess
import sys

from . import db
from .report import Result
from .server import ROOT

PEOPLE = 50


def run(ctx) -> list[Result]:
    cycles = ctx.args.memory_cycles
    db.reset_work(signed_in=[p["id"] for p in ctx.people[:PEOPLE]], pending=0)
    out = subprocess.run(
        [sys.executable, "-m", "bench.assigner_rss", str(cycles)],
        cwd=ROOT,
        env=ctx.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    data = json.loads(line[len("BENCH ") :])
    rss = {int(k): v for k, v in data["rss"].items()}
    first, last = rss[100], rss[max(rss)]
    ctx.log(
        f"  memory: {data['cycles']} cycles, {data['assigned']} assigned; RSS "
        + ", ".join(f"{k}: {v:.1f}" for k, v in sorted(rss.items()))
        + " MiB"
    )
    return [
        Result(
            "memory",
            f"assigner RSS after {data['cycles']:,} cycles ({data['assigned']:,} assigned)",
            "MiB",
            [last],
            baseline="after 100 cycles",
            baseline_runs=[first],
            ratio_runs=[last / first],
            goal="≤ 1.1× (flat)",
            met=last / first <= 1.1,
            extra={"rss_mib_by_cycle": rss},
        )
    ]

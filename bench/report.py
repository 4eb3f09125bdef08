"""Results: one row per figure, printed as a table and written as JSON."""

import json
import os
import platform
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from .stats import median, spread


@dataclass
class Result:
    case: str
    measure: str
    unit: str
    runs: list[float]
    baseline: str | None = None
    baseline_runs: list[float] | None = None
    # Figure / baseline, paired within each repetition, so drift between repetitions cancels.
    ratio_runs: list[float] | None = None
    goal: str | None = None
    met: bool | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def median(self):
        return median(self.runs)

    @property
    def baseline_median(self):
        return median(self.baseline_runs or [])

    @property
    def ratio(self):
        return median(self.ratio_runs or [])

    def as_dict(self) -> dict:
        d = asdict(self)
        lo, hi = spread(self.runs)
        d.update(median=self.median, min=lo, max=hi, baseline_median=self.baseline_median)
        d["ratio"] = self.ratio
        return d


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value == float("inf"):
        return "∞"
    if unit == "ms":
        return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "×":
        return f"{value:.2f}×"
    if abs(value) >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:.2f}{unit}"


def table(results: list[Result]) -> str:
    headers = ["case", "measure", "median", "spread (min–max)", "baseline", "ratio", "goal", "met"]
    rows = []
    for r in results:
        lo, hi = spread(r.runs)
        base = f"{fmt(r.baseline_median, r.unit)} {r.baseline}" if r.baseline else "—"
        rows.append(
            [
                r.case,
                r.measure,
                fmt(r.median, r.unit),
                f"{fmt(lo, r.unit)} – {fmt(hi, r.unit)}" if len(r.runs) > 1 else "—",
                base,
                fmt(r.ratio, "×") if r.ratio_runs else "—",
                r.goal or "—",
                {True: "yes", False: "NO", None: "—"}[r.met],
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    return "\n".join([line, sep, *body])


def machine(db_version: str) -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "host": socket.gethostname(),
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gib": round(mem_gib, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "database": db_version,
    }


def git_revision(root) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_json(path, *, results: list[Result], meta: dict) -> None:
    with open(path, "w") as f:
        json.dump({**meta, "results": [r.as_dict() for r in results]}, f, indent=2, default=str)
        f.write("\n")


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

"""What a chaos run found: one `Outcome` per scenario, printed as a table and the details
under it, and written as JSON for the short variant's test."""

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Outcome:
    name: str
    people: int = 0
    tasks: int = 0
    requests: int = 0
    faults: dict = field(default_factory=dict)
    recovery: list = field(default_factory=list)  # per db restart: {web, api, assigners}
    violations: list = field(default_factory=list)
    lost: int = 0
    seconds: float = 0.0
    races: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)
    missing_faults: list = field(default_factory=list)
    latency: dict = field(default_factory=dict)
    events: dict = field(default_factory=dict)  # webhook deliveries (chaos/webhooks.py)
    reviews: dict = field(default_factory=dict)  # what the reviews came to (checks.accounting)

    @property
    def ok(self) -> bool:
        return not self.violations and not self.lost and not self.missing_faults


def _fmt_faults(faults: dict) -> str:
    return ", ".join(f"{k}×{v}" for k, v in sorted(faults.items())) or "-"


def _fmt_recovery(recovery: list) -> str:
    def s(x):
        return "-" if x is None else f"{x:.1f}s"

    return (
        "; ".join(
            f"down {s(r.get('seconds down'))}: web {s(r.get('web'))}, api {s(r.get('api'))}, "
            f"assigners {s(r.get('assigners'))}"
            for r in recovery
        )
        or "-"
    )


def summary_line(o: Outcome) -> str:
    state = "ok" if o.ok else "FAILED"
    return (
        f"{state}: {o.people} people, {o.tasks} tasks, {o.requests} requests, "
        f"{len(o.violations)} violations, {o.lost} lost, {o.seconds:.0f}s"
    )


def table(outcomes: list[Outcome], total_seconds: float) -> str:
    head = (
        "scenario",
        "people",
        "tasks",
        "requests",
        "faults injected",
        "recovery after db up",
        "violations",
        "lost",
    )
    rows = [
        (
            o.name,
            str(o.people),
            str(o.tasks),
            str(o.requests),
            _fmt_faults(o.faults),
            _fmt_recovery(o.recovery),
            str(len(o.violations)),
            str(o.lost),
        )
        for o in outcomes
    ]
    rows.append(
        (
            "TOTAL",
            str(sum(o.people for o in outcomes) and max(o.people for o in outcomes)),
            str(sum(o.tasks for o in outcomes)),
            str(sum(o.requests for o in outcomes)),
            str(sum(sum(o.faults.values()) for o in outcomes)),
            "",
            str(sum(len(o.violations) for o in outcomes)),
            str(sum(o.lost for o in outcomes)),
        )
    )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(r):
        return " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))

    sep = "-+-".join("-" * w for w in widths)
    out = [line(head), sep, *(line(r) for r in rows[:-1]), sep, line(rows[-1])]
    out.append(f"wall time {total_seconds:.0f}s")
    return "\n".join(out)


def details(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        races = ", ".join(
            f"{k} " + "/".join(f"{v}:{n}" for v, n in sorted(d.items()))
            for k, d in sorted(o.races.items())
        )
        lines.append(f"{o.name}: races {races or '-'}")
        if o.events:
            lines.append("    webhooks: " + ", ".join(f"{k} {v}" for k, v in o.events.items()))
        if o.reviews:
            lines.append("    reviews: " + ", ".join(f"{k} {v}" for k, v in o.reviews.items()))
        for label, counts in o.statuses.items():
            lat = o.latency.get(label, {})
            lines.append(
                f"    {label}: "
                + ", ".join(f"{s}×{n}" for s, n in counts.items())
                + (f"  (p50 {lat['p50']}s, p99 {lat['p99']}s, max {lat['max']}s)" if lat else "")
            )
        for v in o.violations:
            lines.append(f"    VIOLATION {v}")
        for m in o.missing_faults:
            lines.append(f"    NOT INJECTED {m}")
    return "\n".join(lines)


def write_json(
    path: Path,
    outcomes: list[Outcome],
    *,
    ok: bool,
    error: str | None,
    seed: int,
    seconds: float,
) -> None:
    path.write_text(
        json.dumps(
            {
                "ok": ok,
                "error": error,
                "seed": seed,
                "seconds": seconds,
                "outcomes": [o.__dict__ | {"ok": o.ok} for o in outcomes],
            },
            indent=2,
            default=str,
        )
    )

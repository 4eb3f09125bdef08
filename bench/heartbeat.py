"""Heartbeat: authenticated `POST /personnel/{id}/heartbeat` under gunicorn as deployed,
16 connections (wrk), against a bare Django view doing the same single UPDATE with no DRF
and no authentication, in the same gunicorn. Requests rotate over 500 signed-in people."""

import json
import shutil
import subprocess
import sys

from . import db
from .commit_probe import STALL_MS
from .report import Result
from .server import Gunicorn
from .stats import median

PEOPLE = 500
CONNECTIONS = 16
# A run whose commits stalled for less than this share of its time (the probe's figure).
CALM_SHARE = 1.0

LUA = """
local ids = {%(ids)s}
local tokens = {%(tokens)s}
local bare = %(bare)s
local counter = 0
function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end
-- Every request is built once, in init: wrk shares the 2 cores with the server.
function init(args)
  n = offset or 0
  requests = {}
  for i = 1, #ids do
    if bare then
      requests[i] = wrk.format("POST", "/bench/bare-heartbeat/" .. ids[i],
        {["Content-Length"] = "0"})
    else
      requests[i] = wrk.format("POST", "/personnel/" .. ids[i] .. "/heartbeat",
        {["Authorization"] = "Token " .. tokens[i], ["Content-Length"] = "0"})
    end
  end
end
function request()
  n = n + 1
  return requests[(n %% #ids) + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d,' ..
    ' "max_us": %%d, "errors": %%d, "status_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _script(ctx, people: list[dict], *, bare: bool) -> str:
    path = ctx.workdir / ("bare.lua" if bare else "heartbeat.lua")
    path.write_text(
        LUA
        % {
            "ids": ",".join(str(p["id"]) for p in people),
            "tokens": ",".join(f'"{p["token"]}"' for p in people),
            "bare": "true" if bare else "false",
        }
    )
    return str(path)


def _wrk(port: int, script: str, seconds: float, *, probe_env: dict | None = None) -> dict:
    """wrk's figures; with `probe_env`, also the commit probe's, measured beside it."""
    duration = max(1, round(seconds))
    probe = None
    if probe_env is not None:
        probe = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.commit_probe",
                probe_env["DATABASE_URL"],
                db.current(),
                str(duration),
            ],
            env=probe_env,
            stdout=subprocess.PIPE,
            text=True,
        )
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            "-s",
            script,
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    figures = json.loads(line[len("BENCH ") :])
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    if probe is not None:
        stdout, _ = probe.communicate(timeout=60)
        if probe.returncode:
            raise RuntimeError(f"commit probe exited with {probe.returncode}")
        figures["commit_probe"] = json.loads(stdout)
    return figures


def run(ctx) -> list[Result]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (make bench installs it: bench/ensure-wrk)")
    people = ctx.people[:PEOPLE]
    seconds = ctx.args.heartbeat_seconds
    db.reset_work(signed_in=[p["id"] for p in people], pending=0)
    scripts = {"bare": _script(ctx, people, bare=True), "api": _script(ctx, people, bare=False)}
    runs = {"bare": [], "api": []}
    with Gunicorn(ctx.env, ctx.workdir / "gunicorn-heartbeat.log") as web:
        for name in ("bare", "api"):  # warm-up: every worker loads its code paths
            _wrk(web.port, scripts[name], 2)
        for rep in range(ctx.repeat):
            order = ("bare", "api") if rep % 2 == 0 else ("api", "bare")
            for name in order:
                db.refresh_heartbeats()
                figures = _wrk(web.port, scripts[name], seconds, probe_env=ctx.env)
                if figures["errors"] or figures["status_errors"]:
                    raise RuntimeError(f"heartbeat {name}: errors {figures}")
                runs[name].append(figures)
            ctx.log(
                f"  heartbeat rep {rep + 1}: "
                + ", ".join(
                    f"{n} {runs[n][-1]['rps']:,.0f}/s p99 {runs[n][-1]['p99_us'] / 1000:.1f} ms"
                    for n in ("api", "bare")
                )
                + f"; commits stalled > {STALL_MS:.0f} ms "
                + ", ".join(
                    f"{runs[n][-1]['commit_probe']['stalled_share']:.1f}% of the {n} run"
                    for n in ("api", "bare")
                )
            )
    calm, calm_bare = (
        [f for f in runs[n] if f["commit_probe"]["stalled_share"] < CALM_SHARE]
        for n in ("api", "bare")
    )
    api_rps = [f["rps"] for f in runs["api"]]
    bare_rps = [f["rps"] for f in runs["bare"]]
    ratio = [a / b for a, b in zip(api_rps, bare_rps, strict=True)]
    api_p99 = [f["p99_us"] / 1000 for f in runs["api"]]
    bare_p99 = [f["p99_us"] / 1000 for f in runs["bare"]]
    return [
        Result(
            "heartbeat",
            f"POST /personnel/{{id}}/heartbeat, token auth, {CONNECTIONS} connections (req/s)",
            "/s",
            api_rps,
            baseline="bare Django view",
            baseline_runs=bare_rps,
            ratio_runs=ratio,
            goal="≥ 0.6× bare",
            met=median(ratio) >= 0.6,
        ),
        Result(
            "heartbeat",
            "heartbeat latency p99",
            "ms",
            api_p99,
            baseline="bare Django view",
            baseline_runs=bare_p99,
            ratio_runs=[a / b for a, b in zip(api_p99, bare_p99, strict=True)],
            goal="p99 ≤ 50 ms",
            met=median(api_p99) <= 50,
        ),
        Result(
            "heartbeat",
            f"machine: share of the time commits stalled > {STALL_MS:.0f} ms (disk)",
            "%",
            [f["commit_probe"]["stalled_share"] for f in runs["api"]],
            baseline="bare view's runs",
            baseline_runs=[f["commit_probe"]["stalled_share"] for f in runs["bare"]],
            note="A probe commits beside the load (bench/commit_probe.py): over ~1 %, the"
            " p99 of anything that commits is the disk's stall, not the code's.",
            extra={
                "slowest_commit_ms": [f["commit_probe"]["max_ms"] for f in runs["api"]],
                "bare_slowest_commit_ms": [f["commit_probe"]["max_ms"] for f in runs["bare"]],
                "realtime": all(f["commit_probe"]["realtime"] for f in runs["api"]),
            },
        ),
        # For reading the p99 above, not instead of it: the goal is judged on every run.
        Result(
            "heartbeat",
            f"heartbeat p99 in the runs whose commits stalled < {CALM_SHARE:g} % (of {len(calm)})",
            "ms",
            [f["p99_us"] / 1000 for f in calm],
            baseline="bare view's such runs",
            baseline_runs=[f["p99_us"] / 1000 for f in calm_bare],
        ),
    ]

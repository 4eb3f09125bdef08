"""`make bench`: the performance benchmark of qc-assign, on its own MariaDB databases.

Each case runs several times; the table shows the median, the spread, and a ratio against a
baseline measured in the same run (shared machines are noisy; absolute numbers drift).

    python -m bench.run [--repeat 5] [--cases burn-down,heartbeat] [--json bench-results.json]

Creates (and at the end drops) the databases `<name>`, `<name>_h1k`, `<name>_h1m`,
`<name>_p1k` and `<name>_p1m` on the server of --database-url (default
mysql://root:@127.0.0.1:3306/qc_bench).
"""

import argparse
import os
import secrets
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = [
    "burn-down",
    "burn-down-reviews2",
    "pick",
    "shift-start",
    "time-to-assign",
    "heartbeat",
    "history",
    "memory",
    "events",
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "mysql://root:@127.0.0.1:3306/qc_bench"),
    )
    p.add_argument("--repeat", type=int, default=5, help="repetitions of each case (default 5)")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {CASES}")
    p.add_argument("--json", default="bench-results.json", help="where to write the figures")
    p.add_argument(
        "--history-rows", type=int, default=1_000_000, help="completed tasks in the big history"
    )
    p.add_argument(
        "--pick-pending", type=int, default=1_000_000, help="pending tasks in the pick's deep queue"
    )
    p.add_argument("--memory-cycles", type=int, default=10_000)
    p.add_argument("--heartbeat-seconds", type=float, default=8.0, help="wrk run length")
    p.add_argument("--keep-databases", action="store_true", help="do not drop them at the end")
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    args = p.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(args.cases) - set(CASES)
    if unknown:
        p.error(f"unknown cases: {sorted(unknown)}")
    return args


def child_env(url: str) -> dict:
    """The environment of the benchmark and of every process it starts: production-like
    (DEBUG off), its own database, its own settings module (the product's + baseline URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QC_FAULT", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=url,
        DEBUG="0",
        SECRET_KEY="bench-" + secrets.token_hex(24),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        # Plain HTTP straight to gunicorn, as a site whose proxy is not in front.
        SECURE_SSL_REDIRECT="0",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    env.pop("WEB_CONCURRENCY", None)  # as deployed: 2 × CPUs + 1
    return env


class Context:
    def __init__(self, args, env, workdir: Path):
        self.args = args
        self.repeat = args.repeat
        # The long cases (tens of seconds a repetition) run fewer times.
        self.repeat_long = max(1, min(args.repeat, 3))
        self.env = env
        self.workdir = workdir
        self.url = args.database_url
        self.people: list[dict] = []
        self.supervisor: dict = {}
        self._t0 = time.monotonic()

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self._t0:6.1f}s] {message}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    env = child_env(args.database_url)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)

    import django

    django.setup()

    from . import db, report

    workdir = Path(tempfile.mkdtemp(prefix="qc-bench-"))
    ctx = Context(args, env, workdir)
    main_db = db.database_name(args.database_url)
    ctx.log(f"setting up database {main_db} (logs in {workdir})")
    db.recreate(args.database_url, main_db)
    ctx.people = db.make_people(2000)
    ctx.supervisor = db.make_supervisor()
    meta = {
        "date": report.now_utc(),
        "machine": report.machine(db.server_version()),
        "revision": report.git_revision(ROOT),
        "repeat": args.repeat,
        "batch_size": db.batch_size(),
        # Other work on the machine: the figures are only comparable at a similar load.
        "load_average_at_start": os.getloadavg(),
    }
    results = []
    started = time.monotonic()
    try:
        for case in args.cases:
            ctx.log(f"case {case}")
            module = __import__(f"bench.{case.replace('-', '_')}", fromlist=["run"])
            db.use(main_db)
            try:
                results += module.run(ctx)
            except Exception as exc:  # one broken case must not hide the others' figures
                traceback.print_exc()
                results.append(
                    report.Result(case, f"failed: {exc}"[:90], "", [], goal="runs", met=False)
                )
    finally:
        meta["seconds"] = round(time.monotonic() - started)
        meta["load_average_at_end"] = os.getloadavg()
        if not args.keep_databases:
            for name in (main_db, *(f"{main_db}_{s}" for s in ("h1k", "h1m", "p1k", "p1m"))):
                db.drop(args.database_url, name)

    print()
    print(
        f"qc-assign benchmark, {meta['date']}, {meta['machine']['cpus']} CPUs"
        f" ({meta['machine']['cpu']}), {meta['machine']['database']},"
        f" revision {meta['revision']}, {args.repeat} repetitions, {meta['seconds']} s;"
        f" load average {meta['load_average_at_start'][0]:.1f} at start,"
        f" {meta['load_average_at_end'][0]:.1f} at end"
    )
    print(report.table(results))
    report.write_json(args.json, results=results, meta=meta)
    print(f"\nfigures written to {args.json}")
    failed = [r for r in results if r.met is False]
    if failed:
        print(
            f"{len(failed)} goal(s) not met: " + "; ".join(f"{r.case}: {r.measure}" for r in failed)
        )
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())

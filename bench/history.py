"""Scale of history: the hot reads with 1,000 and with 1,000,000 completed tasks (each with
its completed assignment). Two databases with the same live rows, measured alternately in
each repetition; the ratio is big history / small history, per endpoint.

Measured in-process (Django's test client: middleware, DRF, serializers, the queries), so
that the figure is the server's own work and not the network's or gunicorn's. EXPLAIN of
every SELECT on the big history is printed: each must reach its rows through an index.
"""

import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from . import db
from .report import Result
from .stats import median

PEOPLE = 300
WORKING = 100
PENDING = 200
CALLS = 15
CHUNK = 250_000
# The monitoring reads without arguments: Prometheus's scrape and the portal's waiting screen.
MONITORING_URL_NAMES = ("metrics", "tasks-queue-size")
# Tables that grow with every task and assignment: a read must never scan them whole.
HISTORY_TABLES = {"qc_tasks", "qc_assignments", "qc_audit_events"}
# The fixture has WORKING + PENDING = 300 open tasks: a plan that expects to read more rows
# than this of a history table is reading history.
LIVE_ROWS_LIMIT = 1_000


def _fill(ctx, name: str, history: int) -> dict:
    """A migrated database `name` with PEOPLE people (WORKING busy), PENDING tasks waiting,
    and `history` completed tasks with their assignments, all older than a day."""
    db.recreate(ctx.url, name)
    people = db.make_people(PEOPLE, prefix="h")
    supervisor = db.make_supervisor()
    first, last = people[0]["id"], people[-1]["id"]
    started = time.monotonic()
    # A bulk load: the rows are made consistent by construction, so skip the per-row checks.
    db.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
    for lo in range(1, history + 1, CHUNK):
        hi = min(history, lo + CHUNK - 1)
        db.execute(
            "INSERT INTO qc_tasks"
            " (description, status, reviews_done, created_at, assigned_to_id, first_assigned_at)"
            " SELECT 'history', 'COMPLETED', 1,"
            " NOW(6) - INTERVAL 1 DAY - INTERVAL (%s - seq) SECOND, %s + seq MOD %s,"
            " NOW(6) - INTERVAL 1 DAY - INTERVAL (%s - seq) SECOND + INTERVAL 5 SECOND"
            f" FROM seq_{lo}_to_{hi}",
            [history, first, last - first + 1, history],
        )
    lo_id, hi_id = db.fetchall("SELECT MIN(id), MAX(id) FROM qc_tasks")[0]
    for lo in range(lo_id or 0, (hi_id or -1) + 1, CHUNK):
        db.execute(
            "INSERT INTO qc_assignments"
            " (task_id, person_id, assigned_at, source, completed_at, ended_at, end_reason)"
            " SELECT id, assigned_to_id, created_at + INTERVAL 5 SECOND, 'ASSIGNER',"
            " created_at + INTERVAL 300 SECOND, created_at + INTERVAL 300 SECOND, 'COMPLETED'"
            " FROM qc_tasks WHERE id BETWEEN %s AND %s",
            [lo, lo + CHUNK - 1],
        )
    db.execute("SET SESSION foreign_key_checks = 1, unique_checks = 1")
    ctx.log(f"  {name}: {history:,} completed tasks in {time.monotonic() - started:.0f} s")
    # Live rows: the same in both databases, and newer than all history.
    db.sign_in([p["id"] for p in people[:WORKING]])
    db.add_pending(WORKING + PENDING, description="live")
    from tasks import counters
    from tasks.assigner import assignment_cycle

    assignment_cycle()  # WORKING people get the oldest WORKING of the live tasks
    # The hourly counts the services would have kept over that history (it was bulk
    # loaded, counting nothing): what the dashboard's windows add up.
    counters.rebuild_hours()
    db.analyze()
    return {"people": people, "supervisor": supervisor}


def _endpoints(fixture) -> list[tuple[str, callable]]:
    """What a cycle, a supervisor's screens and monitoring, and the QC portal read."""
    from django.contrib.auth import get_user_model

    from tasks.assigner import assignment_cycle

    User = get_user_model()
    api = Client(HTTP_AUTHORIZATION=f"Token {fixture['supervisor']['token']}")
    browser = Client()
    browser.force_login(User.objects.get(pk=fixture["supervisor"]["user_id"]))
    person = Client()
    person.force_login(User.objects.get(pk=fixture["people"][0]["user_id"]))

    def get(client, url):
        def call():
            r = client.get(url)
            if r.status_code != 200:
                raise RuntimeError(f"GET {url}: {r.status_code} {r.content[:200]!r}")

        return call

    found = [
        ("idle cycle (assignment_cycle)", assignment_cycle),
        ("GET /tasks/queue", get(api, "/tasks/queue")),
        ("GET /personnel/status", get(api, "/personnel/status")),
    ]
    for name in MONITORING_URL_NAMES:
        url = reverse(name)
        found.append((f"GET {url} ({name})", get(browser, url)))
    found.append((f"GET {reverse('portal')} (QC portal)", get(person, reverse("portal"))))
    url = reverse("admin:tasks_dashboard")
    # The default window (the last hour) is what a supervisor keeps open all day.
    found.append((f"GET {url} (supervisor dashboard)", get(browser, url)))
    # The 7-day window: a large share of the history's events, added up by the hour.
    found.append((f"GET {url}?window=week (dashboard, 7 days)", get(browser, url + "?window=week")))
    return found


# Reads that range over a window's rows by design (its latest PERCENTILE_SAMPLE events,
# for the percentiles): a read of up to that many history rows is not a scan of history.
WINDOWED = ("?window=week",)


def _check_live_rows() -> None:
    """The comparison holds only while both databases have the same live rows."""
    live = db.fetchall(
        "SELECT (SELECT COUNT(*) FROM qc_personnel WHERE is_logged_in),"
        " (SELECT COUNT(*) FROM qc_tasks WHERE status IN ('PENDING', 'IN_PROGRESS'))"
    )[0]
    if tuple(live) != (WORKING, WORKING + PENDING):
        raise RuntimeError(f"history: live rows changed in {db.current()}: {live}")


def _time(call) -> float:
    call()  # warm
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return median(times)


def explain(endpoints) -> list[dict]:
    """EXPLAIN of every distinct SELECT the endpoints send (on the current database)."""
    plans, seen = [], set()
    for name, call in endpoints:
        with CaptureQueriesContext(connection) as queries:
            call()
        for q in queries.captured_queries:
            sql = q["sql"]
            if not sql.lstrip().upper().startswith("SELECT") or " FROM " not in sql.upper():
                continue
            shape = (name, sql.split(" WHERE ")[0][:300])
            if shape in seen:
                continue
            seen.add(shape)
            with connection.cursor() as cur:
                cur.execute("EXPLAIN " + sql)
                cols = [c[0].lower() for c in cur.description]
                rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            for r in rows:
                estimate = int(r["rows"]) if str(r["rows"] or "").isdigit() else 0
                whole = r["type"] in ("ALL", "index")
                # Reading history fails the case: a whole-table scan of a table that grows
                # with history, or an estimate past what the live rows can explain. A scan
                # of a small table (people, assigner instances) is shown, but costs the same
                # at any age of the database.
                history = str(r["table"]) in HISTORY_TABLES
                # A windowed read ranges over the window's rows by design; only a whole-table
                # read of history fails it.
                windowed = name.split(" (")[0].endswith(WINDOWED)
                scan = history and (whole or (estimate > LIVE_ROWS_LIMIT and not windowed))
                plans.append(
                    {
                        "endpoint": name,
                        "table": r["table"],
                        "type": r["type"],
                        "key": r["key"],
                        "rows": r["rows"],
                        "extra": r["extra"],
                        "scan": scan,
                        "small_scan": whole and not history,
                        "sql": sql[:160],
                    }
                )
    return plans


def print_plans(ctx, plans: list[dict]) -> None:
    ctx.log("  EXPLAIN on the 1,000,000-task history (every SELECT of the measured reads):")
    for p in plans:
        flag = "FULL SCAN" if p["scan"] else "scan*" if p["small_scan"] else "index"
        print(
            f"    {flag:9} {p['endpoint'][:40]:40} {str(p['table']):16} type={p['type']:6}"
            f" key={p['key']} rows={p['rows']} {p['extra'] or ''}"
        )
        if p["scan"] or p["small_scan"]:
            print(f"              {p['sql']}")
    print("    (scan*: a whole small table that does not grow with history: people, assigners)")


def run(ctx) -> list[Result]:
    small, big = f"{db.current()}_h1k", f"{db.current()}_h1m"
    sizes = {small: 1_000, big: ctx.args.history_rows}
    fixtures = {name: _fill(ctx, name, n) for name, n in sizes.items()}
    times: dict[str, dict[str, list[float]]] = {}
    for rep in range(ctx.repeat_long):
        order = [small, big] if rep % 2 == 0 else [big, small]
        for name in order:
            db.use(name)
            for label, call in _endpoints(fixtures[name]):
                # The live rows stay the same in both databases: the people at work stay
                # signed in (filling the big history takes longer than the heartbeat
                # timeout, and the idle cycle would sign out the first database's people,
                # leaving its pages of people and tasks empty).
                db.refresh_heartbeats()
                _check_live_rows()
                times.setdefault(label, {small: [], big: []})[name].append(_time(call))
        ctx.log(
            f"  history rep {rep + 1}: "
            + "; ".join(
                f"{label.split(' (')[0]} {t[big][-1]:.1f}/{t[small][-1]:.1f} ms"
                for label, t in times.items()
            )
        )
    db.use(big)
    db.refresh_heartbeats()
    plans = explain(_endpoints(fixtures[big]))
    print_plans(ctx, plans)
    results = []
    for label, t in times.items():
        ratio = [b / s for b, s in zip(t[big], t[small], strict=True)]
        scans = [p for p in plans if p["endpoint"] == label and p["scan"]]
        results.append(
            Result(
                "history",
                f"{label}, {sizes[big]:,} completed",
                "ms",
                t[big],
                baseline=f"at {sizes[small]:,}",
                baseline_runs=t[small],
                ratio_runs=ratio,
                goal="≤ 1.5×, index access",
                met=median(ratio) <= 1.5 and not scans,
                note="; ".join(f"full scan of {p['table']}" for p in scans),
                extra={"explain": [p for p in plans if p["endpoint"] == label]},
            )
        )
    return results

"""`python -m chaos [--profile full|short]`: run the reliability scenarios, print the table.

One run: a private MariaDB server (never the shared one), the web app under gunicorn with
`deploy/gunicorn.conf.py`, 2–4 `run_assigner` processes, simulated people and producers.
Each scenario starts from empty task tables, injects its faults for `load_seconds`, stops
the load, waits for the sweep, drains the queue with fresh people, and checks I1–I5 and
the accounting. Exit status 0 only when every scenario had 0 violations, 0 lost tasks and
actually injected its faults.
"""

import argparse
import json
import logging
import os
import random
import secrets
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chaos import checks
from chaos.clients import (
    Adversary,
    HealthProbe,
    Http,
    Identity,
    People,
    Producer,
    Recorder,
    drain,
    wait_http,
)
from chaos.infra import ROOT, Child, MariaDB, free_port, make_workdir, python_argv
from chaos.webhooks import WebhookChaos

logger = logging.getLogger("chaos")

ASSIGN_POINTS = (
    "assign.after_lock_people",
    "assign.after_lock_tasks",
    "assign.after_writes",
    "assign.after_commit",
)
SWEEP_POINTS = ("sweep.after_lock_people", "sweep.after_writes")
# Seconds the database stays down in a restart (plus its own shutdown and start-up time).
DB_OUTAGE = 1.0
# Seconds before a dead assigner is started again (systemd: RestartSec=1).
RESTART_DELAY = 1.0
RACE_KINDS = ("double_complete", "logout_vs_complete", "late_complete", "late_heartbeat")


def _fault(point: str, action: str, probability: float) -> dict:
    return {
        "QC_FAULT_POINT": point,
        "QC_FAULT_ACTION": action,
        "QC_FAULT_PROBABILITY": str(probability),
    }


@dataclass
class Scenario:
    name: str
    # (slot, restarts so far, rng) -> the fault environment of that assigner process
    arm: object = None
    expect: tuple[str, ...] = ()  # fault kinds that must have happened
    db_restarts: tuple[tuple[float, int], ...] = ()  # (fraction of the load, signal)
    external_kill_every: float = 0.0  # seconds; kill -9 of a random assigner from outside
    worker_kill_every: float = 0.0  # seconds; kill -9 of a random gunicorn worker
    adversaries: int = 0  # 0: the profile's default
    webhooks: bool = False  # delivery workers killed, the receiver failing (chaos/webhooks.py)


def fixed(point: str, action: str = "kill", probability: float = 0.1):
    return lambda slot, n, rng: _fault(point, action, probability)


def sweep_kills(slot, n, rng):
    return _fault(SWEEP_POINTS[(slot + n) % 2], "kill", 0.3)


def stops(slot, n, rng):
    point = ("assign.after_lock_tasks", "sweep.after_lock_people", "assign.after_writes")[slot % 3]
    return _fault(point, "stop", 0.15 if point.startswith("assign") else 0.4)


def anything(slot, n, rng):
    point = rng.choice(ASSIGN_POINTS + SWEEP_POINTS)
    return _fault(point, "kill" if rng.random() < 0.7 else "stop", 0.1)


def short_mix(slot, n, rng):
    # Slot 0 is killed at each of the four assign points in turn, slot 1 freezes itself.
    if slot == 0:
        return _fault(ASSIGN_POINTS[n % 4], "kill", 0.25)
    return _fault("assign.after_lock_tasks", "stop", 0.25)


@dataclass
class Profile:
    name: str
    people: int
    people_threads: int
    producers: int
    adversaries: int
    drainers: int
    assigners: int
    web_workers: int
    load_seconds: float
    task_rate: float
    max_tasks: int
    max_backlog: int
    heartbeat_timeout: int
    interval: float
    lock_wait: int
    max_seconds: float
    # Seconds past timeout + cycle that a dead session may still hold a task (I3).
    slack: float = 3.0
    scenarios: list[Scenario] = field(default_factory=list)


FULL = Profile(
    name="full",
    people=200,
    people_threads=200,
    producers=3,
    adversaries=4,
    drainers=20,
    assigners=3,
    web_workers=5,
    load_seconds=40,
    task_rate=20,
    max_tasks=3000,
    max_backlog=150,
    heartbeat_timeout=6,
    interval=0.5,
    lock_wait=2,
    max_seconds=14 * 60,
    scenarios=[
        Scenario("kill -9 after locking people", fixed(ASSIGN_POINTS[0]), ("kill",)),
        Scenario("kill -9 after locking tasks", fixed(ASSIGN_POINTS[1]), ("kill",)),
        Scenario("kill -9 after the writes", fixed(ASSIGN_POINTS[2]), ("kill",)),
        Scenario("kill -9 after commit", fixed(ASSIGN_POINTS[3]), ("kill",)),
        Scenario("kill -9 in the stale sweep", sweep_kills, ("kill",)),
        Scenario("SIGSTOP past the lock wait", stops, ("stop",)),
        Scenario(
            "database restart",
            None,
            ("db",),
            db_restarts=((0.3, signal.SIGTERM), (0.65, signal.SIGTERM)),
        ),
        Scenario("duplicate and late requests", None, ("races",), adversaries=12),
        Scenario(
            "mixed",
            anything,
            ("kill", "stop", "db", "races"),
            db_restarts=((0.5, signal.SIGKILL),),
            external_kill_every=7,
            worker_kill_every=9,
        ),
        Scenario(
            "webhooks: kill -9 of delivery workers, receiver outages",
            None,
            ("webhooks", "db"),
            db_restarts=((0.5, signal.SIGTERM),),
            webhooks=True,
        ),
    ],
)

SHORT = Profile(
    name="short",
    people=40,
    people_threads=40,
    producers=2,
    adversaries=3,
    drainers=8,
    assigners=2,
    web_workers=3,
    load_seconds=22,
    task_rate=10,
    max_tasks=600,
    max_backlog=60,
    heartbeat_timeout=4,
    interval=0.5,
    lock_wait=2,
    max_seconds=200,
    slack=5.0,
    scenarios=[
        Scenario(
            "mixed (short)",
            short_mix,
            ("kill", "stop", "db", "races"),
            db_restarts=((0.45, signal.SIGTERM),),
        )
    ],
)

PROFILES = {"full": FULL, "short": SHORT}


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

    @property
    def ok(self) -> bool:
        return not self.violations and not self.lost and not self.missing_faults


class Harness:
    def __init__(self, profile: Profile, *, seed: int, keep: bool):
        self.p = profile
        self.seed = seed
        self.keep = keep
        self.rng = random.Random(seed)
        self.workdir = make_workdir()
        (self.workdir / "logs").mkdir()
        self.db = MariaDB(self.workdir, lock_wait_timeout=5)
        self.web: Child | None = None
        self.web_port = free_port()
        self.assigners: list[dict] = []
        self.http = Http(self.web_port)
        self.webhooks: WebhookChaos | None = None
        self.local = threading.local()
        self.started = time.monotonic()

    # --- setup and teardown ------------------------------------------------------------------

    def child_env(self, **extra) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("QC_FAULT_") and k not in ("DATABASE_URL", "PYTEST_CURRENT_TEST")
        }
        env.update(
            DATABASE_URL=self.db.url,
            DJANGO_SETTINGS_MODULE="qcproject.settings",
            DEBUG="0",
            SECRET_KEY=self.secret,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            QC_HEARTBEAT_TIMEOUT=str(self.p.heartbeat_timeout),
            QC_ASSIGNER_INTERVAL=str(self.p.interval),
            QC_DB_LOCK_WAIT_TIMEOUT=str(self.p.lock_wait),
            CONN_MAX_AGE="60",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            GUNICORN_BIND=f"127.0.0.1:{self.web_port}",
            WEB_CONCURRENCY=str(self.p.web_workers),
        )
        env.update(extra)
        return env

    def setup(self) -> None:
        self.secret = secrets.token_urlsafe(40)
        self.db.install()
        self.db.start()
        self.db.create_database()
        log = self.workdir / "logs" / "migrate.log"
        with open(log, "wb") as out:
            import subprocess

            subprocess.run(
                python_argv("manage.py", "migrate", "--no-input"),
                cwd=ROOT,
                env=self.child_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=300,
            )
        os.environ.update(self.child_env(LOG_LEVEL="WARNING"))
        import django

        django.setup()
        self._make_people()
        self.web = Child(
            "web",
            python_argv("-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"),
            env=self.child_env(),
            log=self.workdir / "logs" / "web.log",
        ).start()
        wait_http(self.http, "/healthz", timeout=60)
        schema = self.http.call("GET", "/api/schema/?format=json")
        paths = schema.data.get("paths", {}) if isinstance(schema.data, dict) else {}
        self.has_release = any(p.endswith("/release") for p in paths)

    def _make_people(self) -> None:
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        from personnel.models import Person
        from tasks.roles import make_supervisor

        User = get_user_model()
        most_adversaries = max([self.p.adversaries] + [s.adversaries for s in self.p.scenarios])
        total = self.p.people + most_adversaries + self.p.drainers
        User.objects.bulk_create([User(username=f"chaos{i}", password="!") for i in range(total)])
        users = list(User.objects.filter(username__startswith="chaos").order_by("id"))
        Person.objects.bulk_create([Person(user=u, name=u.username) for u in users])
        Token.objects.bulk_create([Token(key=Token.generate_key(), user=u) for u in users])
        boss = make_supervisor(User.objects.create(username="chaos-supervisor", password="!"))
        self.supervisor = Token.objects.create(key=Token.generate_key(), user=boss).key
        ids = dict(Person.objects.values_list("user_id", "id"))
        tokens = dict(Token.objects.values_list("user_id", "key"))
        everyone = [Identity(ids[u.pk], tokens[u.pk]) for u in users]
        self.pool = everyone[: self.p.people]
        self.extra = everyone[self.p.people : self.p.people + most_adversaries]
        self.drainers = everyone[self.p.people + most_adversaries :]

    def teardown(self) -> None:
        if self.webhooks is not None:
            self.webhooks.stop()
        for slot in self.assigners:
            slot["child"].stop(5)
        if self.web is not None:
            self.web.stop(15)
        try:
            self.db.stop(timeout=30)
        except Exception:  # the directory goes anyway
            logger.exception("stopping mariadb")
        if self.keep:
            print(f"logs and data kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- direct SQL for the checks ------------------------------------------------------------

    def conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self.db.connect()
        return conn

    def query(self, sql: str, args=(), *, patience: float = 20.0):
        """Run a query on this thread's connection; wait out a database restart."""
        deadline = time.monotonic() + patience
        while True:
            try:
                cur = self.conn().cursor()
                cur.execute(sql, args)
                return cur.fetchall()
            except Exception:
                conn, self.local.conn = getattr(self.local, "conn", None), None
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def with_conn(self, check, **kwargs) -> list[str]:
        self.query("SELECT 1")
        return check(self.conn(), **kwargs)

    def reset_tables(self) -> None:
        for sql in (
            "DELETE FROM qc_webhook_deliveries",
            "DELETE FROM qc_webhook_endpoints",
            "DELETE FROM qc_events",
            "DELETE FROM qc_audit_events",
            "DELETE FROM qc_assignments",
            "DELETE FROM qc_tasks",
            "DELETE FROM qc_assigners",
            "UPDATE qc_personnel SET is_logged_in = 0, is_busy = 0, last_heartbeat = NULL, "
            "logged_in_at = NULL, idle_since = NULL, signed_out_reason = ''",
        ):
            try:
                self.query(sql)
            except Exception as exc:
                if "doesn't exist" not in str(exc):
                    raise

    # --- assigners ---------------------------------------------------------------------------

    def start_assigner(
        self, slot: int, scenario: Scenario, *, armed: bool, fault: dict | None = None
    ) -> None:
        state = self.assigners[slot]
        n = state["restarts"]
        if fault is None:
            fault = scenario.arm(slot, n, self.rng) if (armed and scenario.arm) else {}
        state["fault"] = fault
        state["external"] = False
        state["stopped_since"] = None
        state["dead_since"] = None
        state["child"] = Child(
            f"assigner-{slot}",
            python_argv("manage.py", "run_assigner"),
            env=self.child_env(**fault),
            log=self.workdir / "logs" / f"assigner-{slot}.log",
        ).start()

    def insist(self, scenario: Scenario, out: Outcome) -> None:
        """Halfway through the load, an expected kill or stop that chance has not brought yet
        is made certain: an assigner is restarted (SIGTERM, between transactions) armed with
        probability 1, so a short run proves what it claims without being flaky."""
        for slot, kind in enumerate(("kill", "stop")):
            if kind not in scenario.expect or any(k.startswith(f"{kind}@") for k in out.faults):
                continue
            slot %= len(self.assigners)
            state = self.assigners[slot]
            armed = scenario.arm(slot, state["restarts"], self.rng) if scenario.arm else {}
            point = armed.get("QC_FAULT_POINT", "assign.after_lock_tasks")
            state["child"].stop(10)
            state["restarts"] += 1
            self.start_assigner(slot, scenario, armed=True, fault=_fault(point, kind, 1.0))

    def supervise_assigners(self, scenario: Scenario, out: Outcome, hold: float) -> None:
        """Restart assigners that died (as systemd would), SIGCONT the ones that froze."""
        now = time.monotonic()
        for slot, state in enumerate(self.assigners):
            child = state["child"]
            rc = child.returncode()
            if rc is not None:
                if state["dead_since"] is None:
                    state["dead_since"] = now
                    if rc == -signal.SIGKILL and not state["external"]:
                        point = state["fault"].get("QC_FAULT_POINT", "?")
                        out.faults[f"kill@{point}"] = out.faults.get(f"kill@{point}", 0) + 1
                    elif rc != -signal.SIGKILL:
                        out.violations.append(f"assigner {slot} exited by itself (status {rc})")
                # Restarted a moment later, as systemd's Restart=always with RestartSec=1.
                if now - state["dead_since"] >= RESTART_DELAY:
                    state["restarts"] += 1
                    self.start_assigner(slot, scenario, armed=True)
                continue
            if child.is_stopped():
                state["stopped_since"] = state["stopped_since"] or now
                if now - state["stopped_since"] >= hold:
                    point = state["fault"].get("QC_FAULT_POINT", "?")
                    out.faults[f"stop@{point}"] = out.faults.get(f"stop@{point}", 0) + 1
                    child.signal(signal.SIGCONT)
                    state["stopped_since"] = None

    # --- one scenario ------------------------------------------------------------------------

    def run_scenario(self, sc: Scenario) -> Outcome:
        p = self.p
        out = Outcome(sc.name)
        began = time.monotonic()
        self.reset_tables()
        rec = Recorder()
        stop = threading.Event()
        self.assigners = [{"restarts": 0} for _ in range(p.assigners)]
        for slot in range(p.assigners):
            self.start_assigner(slot, sc, armed=True)
        self.webhooks = WebhookChaos(self, out).start() if sc.webhooks else None
        live_violations: set[str] = set()

        def monitor():
            while not stop.is_set():
                try:
                    live_violations.update(self.with_conn(checks.snapshot_i1))
                except Exception:
                    pass  # the database is restarting
                stop.wait(1.0)

        threads = [threading.Thread(target=monitor, daemon=True)]
        threads[0].start()
        probe = HealthProbe(self.http, rec)
        threads.append(probe.run(stop))
        tag = f"s{len(self.outcomes)}"
        people = People(
            self.http,
            rec,
            self.pool,
            timeout=p.heartbeat_timeout,
            threads=p.people_threads,
            seed=self.rng.random(),
        )
        threads += people.run(stop)

        def backlog() -> int:
            try:
                return self.query(
                    "SELECT COUNT(*) FROM qc_tasks WHERE status = 'PENDING'", patience=0
                )[0][0]
            except Exception:
                return 0

        adversaries_stop = threading.Event()
        adversaries: list[threading.Thread] = []
        for i in range(p.producers):
            producer = Producer(
                self.http,
                rec,
                self.supervisor,
                tag=f"{tag}p{i}",
                rate=p.task_rate / p.producers,
                max_tasks=p.max_tasks // p.producers,
                backlog=backlog,
                max_backlog=p.max_backlog,
                seed=self.rng.random(),
            )
            # Producers feed the adversaries too, so they stop with them.
            adversaries.append(producer.run(adversaries_stop))
        n_adv = sc.adversaries or p.adversaries
        base_kinds = ("double_complete", "logout_vs_complete", "late_complete")
        for i, me in enumerate(self.extra[:n_adv]):
            # Each starts with a different race, so every kind runs early in the run.
            kinds = base_kinds[i % 3 :] + base_kinds[: i % 3]
            if self.has_release:
                kinds += ("release_then_complete",)
            adv = Adversary(
                self.http,
                rec,
                me,
                self.supervisor,
                timeout=p.heartbeat_timeout,
                interval=p.interval,
                query=self.query,
                has_release=self.has_release,
                seed=self.rng.random(),
                kinds=kinds,
            )
            adversaries.append(adv.run(adversaries_stop))

        # The load, with the faults.
        hold = p.lock_wait + 1.5
        load_end = began + p.load_seconds
        restarts = sorted((began + f * p.load_seconds, sig) for f, sig in sc.db_restarts)
        outage = None  # the database restart in progress
        measuring: list[threading.Thread] = []
        next_kill = began + sc.external_kill_every if sc.external_kill_every else None
        next_worker_kill = began + sc.worker_kill_every if sc.worker_kill_every else None
        insist_at = began + p.load_seconds / 2
        while time.monotonic() < load_end:
            self.check_deadline()
            self.supervise_assigners(sc, out, hold)
            now = time.monotonic()
            if self.webhooks is not None:
                self.webhooks.tick(now)
            if insist_at and now >= insist_at:
                insist_at = None
                self.insist(sc, out)
            if restarts and now >= restarts[0][0] and outage is None:
                _, sig = restarts.pop(0)
                outage = self.stop_database(sig, out)
            if outage is not None and now >= outage["down"] + DB_OUTAGE:
                measuring.append(self.start_database(outage))
                out.recovery.append(outage)
                outage = None
            if next_kill and now >= next_kill:
                state = self.rng.choice(self.assigners)
                if state["child"].returncode() is None:
                    state["external"] = True
                    state["child"].signal(signal.SIGKILL)
                    out.faults["kill (outside)"] = out.faults.get("kill (outside)", 0) + 1
                next_kill = now + sc.external_kill_every * self.rng.uniform(0.5, 1.5)
            if next_worker_kill and now >= next_worker_kill:
                workers = self.web.children()
                if workers:
                    os.kill(self.rng.choice(workers), signal.SIGKILL)
                    out.faults["web worker kill"] = out.faults.get("web worker kill", 0) + 1
                next_worker_kill = now + sc.worker_kill_every * self.rng.uniform(0.5, 1.5)
            time.sleep(0.1)

        # No more faults: the database up, clean assigners in place of the armed ones, each
        # through a first cycle, all while the load goes on.
        if outage is not None:
            measuring.append(self.start_database(outage))
            out.recovery.append(outage)
        self.supervise_assigners(sc, out, 0)
        for state in self.assigners:
            state["child"].stop(10)
        since = self.query("SELECT NOW(6)")[0][0]
        for slot in range(p.assigners):
            self.start_assigner(slot, sc, armed=False)
        ready = time.monotonic() + 60
        while time.monotonic() < ready:
            cycled = self.query(
                "SELECT COUNT(*) FROM qc_assigners WHERE last_cycle_at >= %s", (since,)
            )[0][0]
            if cycled >= p.assigners:
                break
            time.sleep(0.2)

        # Stop the load.
        stop.set()
        for t in threads:
            t.join(30)
        # Every race must have been judged at least once: the adversaries go on alone
        # (bounded) until each kind has a clear verdict.
        until = time.monotonic() + (45 if "races" in sc.expect else 0)
        while time.monotonic() < until and self.undecided_races(rec):
            time.sleep(0.5)
        adversaries_stop.set()
        for t in adversaries:
            t.join(60)
        threads += adversaries
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            out.violations.append(f"client threads stuck: {stuck}")
        for t in measuring:
            t.join(60)
        for r in out.recovery:
            r["web"] = probe.first_ok_after(r["up"])
            r["api"] = rec.first_ok_after(r["up"])
        if self.web.returncode() is not None:
            out.violations.append(f"gunicorn exited (status {self.web.returncode()})")

        # I3: with nobody sending anything, the sweep signs everyone out in time.
        limit = p.heartbeat_timeout + p.interval + p.slack
        deadline = time.monotonic() + limit + 2 * p.interval
        while time.monotonic() < deadline:
            if not self.query(
                "SELECT 1 FROM qc_personnel WHERE is_logged_in = 1 LIMIT 1"
            ) and not self.query("SELECT 1 FROM qc_tasks WHERE status = 'IN_PROGRESS' LIMIT 1"):
                break
            time.sleep(0.2)
        out.violations += self.with_conn(
            checks.stale_holders, timeout=p.heartbeat_timeout, interval=p.interval, slack=p.slack
        )

        # Drain with fresh people, checking I2 (nobody idles while a task waits) meanwhile.
        drained = threading.Event()
        idle: set[str] = set()

        def watch_idle():
            while not drained.is_set():
                try:
                    idle.update(
                        self.with_conn(
                            checks.idle_while_waiting,
                            timeout=p.heartbeat_timeout,
                            interval=p.interval,
                            slack=2.0,
                        )
                    )
                except Exception as exc:
                    idle.add(f"I2 check failed: {exc!r}")
                drained.wait(0.5)

        watcher = threading.Thread(target=watch_idle, daemon=True)
        watcher.start()
        drain(
            self.http,
            rec,
            self.drainers,
            open_tasks=lambda: self.query(
                "SELECT COUNT(*) FROM qc_tasks WHERE status IN ('PENDING', 'IN_PROGRESS')"
            )[0][0],
            stop=drained,
            deadline=time.monotonic() + 90,
        )
        watcher.join(10)
        out.violations += sorted(live_violations) + sorted(idle)
        if self.webhooks is not None:
            self.webhooks.finish()
            self.webhooks = None

        # The tables, against each other and against what the clients were told.
        out.violations += self.with_conn(checks.final_checks)
        found, out.lost, figures = checks.accounting(self.conn(), rec.batches, rec.completes)
        out.violations += found
        out.violations += self.reuse_assert_invariants(figures["tasks"])
        out.violations += sorted(set(rec.unexpected))[:20]
        races: dict = {}
        for kind, verdict, detail in rec.races:
            races.setdefault(kind, {}).setdefault(verdict, 0)
            races[kind][verdict] += 1
            if verdict == "violation":
                out.violations.append(f"race {kind}: {detail}")
        out.races = races
        race_ok = sum(v.get("ok", 0) for v in races.values())
        if race_ok:
            out.faults["races"] = race_ok
        out.people = len(rec.people_seen)
        out.tasks = figures["tasks"]
        out.requests = rec.requests
        statuses: dict = {}
        for (label, status), n in sorted(rec.statuses.items()):
            statuses.setdefault(label, {})[str(status)] = n
        out.statuses = statuses
        for label, times in rec.latency.items():
            times.sort()
            out.latency[label] = {
                "p50": round(times[len(times) // 2], 3),
                "p99": round(times[int(len(times) * 0.99)], 3),
                "max": round(times[-1], 3),
            }
        out.missing_faults = self.missing_faults(sc, out)
        for state in self.assigners:
            state["child"].stop(10)
        self.assigners = []
        out.seconds = time.monotonic() - began
        return out

    def reuse_assert_invariants(self, expected: int) -> list[str]:
        """The suite's own ORM-based check (tasks/tests/invariants.py), as a second opinion."""
        from django.db import connection

        from tasks.tests.invariants import assert_invariants

        connection.close()  # the database may have restarted under this connection
        try:
            assert_invariants(expected_tasks=expected)
        except AssertionError as exc:
            return [f"assert_invariants: {str(exc)[:300]}"]
        return []

    def undecided_races(self, rec: Recorder) -> list[str]:
        with rec.lock:
            decided = {kind for kind, verdict, _ in rec.races if verdict != "inconclusive"}
        return [kind for kind in RACE_KINDS if kind not in decided]

    def missing_faults(self, sc: Scenario, out: Outcome) -> list[str]:
        missing = []
        for kind in sc.expect:
            if kind in ("kill", "stop"):
                if not any(k.startswith(kind) for k in out.faults):
                    missing.append(kind)
            elif kind == "db":
                if out.faults.get("db restart", 0) < len(sc.db_restarts):
                    missing.append("db restart")
            elif kind == "webhooks":
                missing += WebhookChaos.missing(out)
            elif kind == "races":
                done = {k for k, v in out.races.items() if v.get("ok")}
                missing += [f"race {k}" for k in RACE_KINDS if k not in done]
        return missing

    def stop_database(self, sig: int, out: Outcome) -> dict:
        """Stop the private server under load: SIGTERM is a clean shutdown, SIGKILL a crash."""
        self.db.stop(sig=sig)
        out.faults["db restart"] = out.faults.get("db restart", 0) + 1
        if sig == signal.SIGKILL:
            out.faults["db crash"] = out.faults.get("db crash", 0) + 1
        return {"down": time.monotonic()}

    def start_database(self, outage: dict) -> threading.Thread:
        """Start the server again (from the main thread: children die with the thread that
        started them), then measure in the background until every assigner has finished a
        cycle on the database's clock."""
        self.db.start()
        up = outage["up"] = time.monotonic()
        outage["seconds down"] = round(up - outage["down"], 2)
        outage["assigners"] = None

        def measure():
            since = self.query("SELECT NOW(6)")[0][0]
            while time.monotonic() < up + 60:
                done = self.query(
                    "SELECT COUNT(*) FROM qc_assigners WHERE last_cycle_at >= %s", (since,)
                )[0][0]
                if done >= len(self.assigners):
                    outage["assigners"] = time.monotonic() - up
                    return
                time.sleep(0.1)

        thread = threading.Thread(target=measure, name="recovery", daemon=True)
        thread.start()
        return thread

    def check_deadline(self) -> None:
        if time.monotonic() - self.started > self.p.max_seconds:
            raise TimeoutError(f"the run exceeded {self.p.max_seconds:.0f}s")

    # --- the whole run -----------------------------------------------------------------------

    def run(self, only: str | None) -> list[Outcome]:
        self.outcomes: list[Outcome] = []
        for sc in self.p.scenarios:
            if only and only.lower() not in sc.name.lower():
                continue
            self.check_deadline()
            print(f"--- {sc.name}", flush=True)
            outcome = self.run_scenario(sc)
            self.outcomes.append(outcome)
            print(f"    {summary_line(outcome)}", flush=True)
        return self.outcomes


# --- reporting ---------------------------------------------------------------------------------


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--only", help="run only the scenarios whose name contains this")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--load-seconds", type=float, help="override the profile's load time")
    parser.add_argument("--json", type=Path, help="write the outcomes here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep logs and data (tmp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    profile = PROFILES[args.profile]
    if args.load_seconds:
        profile.load_seconds = args.load_seconds
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"chaos: profile {profile.name}, seed {seed}", flush=True)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    began = time.monotonic()
    harness = Harness(profile, seed=seed, keep=args.keep)
    outcomes: list[Outcome] = []
    error = None
    try:
        harness.setup()
        outcomes = harness.run(args.only)
    except BaseException as exc:  # report, clean up, fail
        error = f"{type(exc).__name__}: {exc}"
        outcomes = getattr(harness, "outcomes", [])
        logger.exception("the chaos run failed")
    finally:
        harness.teardown()
    total = time.monotonic() - began
    print()
    print(table(outcomes, total))
    print()
    print(details(outcomes))
    ok = error is None and bool(outcomes) and all(o.ok for o in outcomes)
    if error:
        print(f"\nERROR {error}")
    print(f"\nchaos: {'PASSED' if ok else 'FAILED'}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "ok": ok,
                    "error": error,
                    "seed": seed,
                    "seconds": total,
                    "outcomes": [o.__dict__ | {"ok": o.ok} for o in outcomes],
                },
                indent=2,
                default=str,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

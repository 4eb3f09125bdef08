"""The harness: starts the processes, drives one scenario after another, checks each.

One run: a private MariaDB server (never the shared one), the web app under gunicorn with
`deploy/gunicorn.conf.py`, 2–4 `run_assigner` processes, simulated people and producers.
Each scenario (`Harness.run_scenario`) starts from empty task tables, injects its faults
for `load_seconds`, stops the load, waits for the sweep, drains the queue with fresh
people, and checks invariants I1–I5 (docs/engine.md, "Invariants") and the accounting.
"""

import logging
import os
import random
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import django

from chaos import checks
from chaos.clients import (
    DEFECT_CODES,
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
from chaos.profiles import RACE_KINDS, Profile, Scenario, fault_env
from chaos.report import Outcome, summary_line
from chaos.webhooks import WebhookChaos

logger = logging.getLogger("chaos")

# Seconds the database stays down in a restart (plus its own shutdown and start-up time).
DB_OUTAGE = 1.0
# Seconds before a dead assigner is started again (systemd: RestartSec=1).
RESTART_DELAY = 1.0
# How far into the load (a fraction) an expected fault that chance has not brought yet is
# made certain (`insist`): before the short profile's database restart, with time to spare.
INSIST_AT = 0.3
# The races every adversary runs, each adversary starting with a different one.
ADVERSARY_KINDS = ("double_complete", "logout_vs_complete", "late_complete")


@dataclass
class ScenarioRun:
    """What one scenario's phases hand on to each other."""

    scenario: Scenario
    out: Outcome
    began: float
    rec: Recorder = field(default_factory=Recorder)
    # Stops the people, the health probe and the live I1 monitor.
    stop: threading.Event = field(default_factory=threading.Event)
    # Stops the adversaries and the producers (they feed the adversaries), later.
    adversaries_stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    adversaries: list[threading.Thread] = field(default_factory=list)
    probe: HealthProbe | None = None
    live_violations: set[str] = field(default_factory=set)  # I1 during the load
    idle: set[str] = field(default_factory=set)  # I2 during the drain
    outage: dict | None = None  # the database restart in progress
    measuring: list[threading.Thread] = field(default_factory=list)  # recovery times
    figures: dict = field(default_factory=dict)  # from the accounting


class Harness:
    def __init__(self, profile: Profile, *, seed: int, keep: bool):
        self.p = profile
        self.keep = keep
        self.rng = random.Random(seed)
        self.workdir = make_workdir()
        (self.workdir / "logs").mkdir()
        self.db = MariaDB(self.workdir, lock_wait_timeout=5)
        self.web: Child | None = None
        self.web_port = free_port()
        self.assigners: list[dict] = []
        self.http = Http(self.web_port)
        self.webhooks: WebhookChaos | None = None  # the webhook part of a scenario
        self.local = threading.local()
        self.started = time.monotonic()
        self.outcomes: list[Outcome] = []

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
            # Plain HTTP straight to gunicorn on loopback (production settings redirect it).
            SECURE_SSL_REDIRECT="0",
            QC_HEARTBEAT_TIMEOUT=str(self.p.heartbeat_timeout),
            QC_ASSIGNER_INTERVAL=str(self.p.interval),
            QC_DB_LOCK_WAIT_TIMEOUT=str(self.p.lock_wait),
            # Some single-review tasks get a second, blind review (docs/engine.md, "Outcomes").
            QC_REVIEW_SAMPLE_RATE="0.1",
            CONN_MAX_AGE="60",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            GUNICORN_BIND=f"127.0.0.1:{self.web_port}",
            WEB_CONCURRENCY=str(self.p.web_workers),
        )
        env.update(extra)
        return env

    def setup(self) -> None:
        """The private server, migrated; the people and their tokens; gunicorn, answering."""
        self.secret = secrets.token_urlsafe(40)
        self.db.install()
        self.db.start()
        self.db.create_database()
        log = self.workdir / "logs" / "migrate.log"
        with open(log, "wb") as out:
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
        django.setup()
        self._make_people()
        self.web = Child(
            "web",
            python_argv("-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"),
            env=self.child_env(),
            log=self.workdir / "logs" / "web.log",
        ).start()
        wait_http(self.http, "/healthz", timeout=60)

    def _make_people(self) -> None:
        # Imported here: Django is set up only once the private server is migrated.
        from django.contrib.auth import get_user_model

        from personnel.models import Person
        from personnel.services import token_issue
        from tasks.models import DefectCode
        from tasks.roles import make_supervisor

        User = get_user_model()
        most_adversaries = max([self.p.adversaries] + [s.adversaries for s in self.p.scenarios])
        total = self.p.people + most_adversaries + self.p.drainers
        User.objects.bulk_create([User(username=f"chaos{i}", password="!") for i in range(total)])
        users = list(User.objects.filter(username__startswith="chaos").order_by("id"))
        Person.objects.bulk_create([Person(user=u, name=u.username) for u in users])
        tokens = {u.pk: token_issue(user=u).token for u in users}
        boss = make_supervisor(User.objects.create(username="chaos-supervisor", password="!"))
        # The catalogue the people's reviews log codes of (`clients.DEFECT_CODES`).
        DefectCode.objects.bulk_create(
            [DefectCode(code=code, description=code.title()) for code in DEFECT_CODES],
            ignore_conflicts=True,
        )
        self.supervisor = token_issue(user=boss).token
        ids = dict(Person.objects.values_list("user_id", "id"))
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
            # Declines and reviews of tasks that needed more than one refer to their tasks.
            "DELETE FROM qc_task_exclusions",
            "DELETE FROM qc_tasks",
            "DELETE FROM qc_assigners",
            "UPDATE qc_personnel SET is_logged_in = 0, is_busy = 0, last_heartbeat = NULL, "
            "logged_in_at = NULL, idle_since = NULL, signed_out_reason = ''",
        ):
            self.query(sql)

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
        """Early in the load, an expected kill or stop that chance has not brought yet is made
        certain: an assigner is restarted (SIGTERM, between transactions) armed with
        probability 1 at `assign.before_batch`, which every cycle passes, so a short run
        proves what it claims without being flaky. The points inside the batch need a waiting
        task and an idle person at the same moment, which the engine's immediate hand-outs
        (sign-in, complete, new tasks) make rare in a short run."""
        for slot, kind in enumerate(("kill", "stop")):
            if kind not in scenario.expect or any(k.startswith(f"{kind}@") for k in out.faults):
                continue
            slot %= len(self.assigners)
            state = self.assigners[slot]
            state["child"].stop(10)
            state["restarts"] += 1
            fault = fault_env("assign.before_batch", kind, 1.0)
            self.start_assigner(slot, scenario, armed=True, fault=fault)

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

    def kill_random_assigner(self, out: Outcome) -> None:
        """kill -9 of a random assigner from outside (not counted as its own fault point)."""
        state = self.rng.choice(self.assigners)
        if state["child"].returncode() is None:
            state["external"] = True
            state["child"].signal(signal.SIGKILL)
            out.faults["kill (outside)"] = out.faults.get("kill (outside)", 0) + 1

    def stop_assigners(self) -> None:
        """Stop every assigner of the scenario; the next one starts its own."""
        for state in self.assigners:
            state["child"].stop(10)
        self.assigners = []

    # --- the web and the database under faults -------------------------------------------------

    def kill_random_web_worker(self, out: Outcome) -> None:
        """kill -9 of a random gunicorn worker (the master starts another)."""
        workers = self.web.children()
        if workers:
            os.kill(self.rng.choice(workers), signal.SIGKILL)
            out.faults["web worker kill"] = out.faults.get("web worker kill", 0) + 1

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

    def end_outage(self, run: ScenarioRun) -> None:
        """Bring the database of the restart in progress back, and measure the recovery."""
        run.measuring.append(self.start_database(run.outage))
        run.out.recovery.append(run.outage)
        run.outage = None

    def check_deadline(self) -> None:
        if time.monotonic() - self.started > self.p.max_seconds:
            raise TimeoutError(f"the run exceeded {self.p.max_seconds:.0f}s")

    # --- one scenario, phase by phase --------------------------------------------------------

    def run_scenario(self, sc: Scenario) -> Outcome:
        """One scenario, from empty tables to its outcome."""
        run = self.start_scenario(sc)
        self.start_load(run)
        self.inject_faults(run)
        self.end_faults(run)
        self.stop_load(run)
        self.check_sweep(run)
        self.drain_watching_idle(run)
        self.check_webhooks(run)
        self.check_tables(run)
        self.judge_races(run)
        self.collect_figures(run)
        self.stop_assigners()
        run.out.seconds = time.monotonic() - run.began
        return run.out

    def start_scenario(self, sc: Scenario) -> ScenarioRun:
        """Empty task tables, everyone signed out, and the scenario's assigners started armed."""
        run = ScenarioRun(scenario=sc, out=Outcome(sc.name), began=time.monotonic())
        self.reset_tables()
        self.assigners = [{"restarts": 0} for _ in range(self.p.assigners)]
        for slot in range(self.p.assigners):
            self.start_assigner(slot, sc, armed=True)
        self.webhooks = WebhookChaos(self, run.out).start() if sc.webhooks else None
        return run

    def start_load(self, run: ScenarioRun) -> None:
        """Start the clients: the live I1 monitor, the /healthz probe, the simulated people,
        the producers and the adversaries."""
        p, rec = self.p, run.rec

        def monitor():
            while not run.stop.is_set():
                try:
                    run.live_violations.update(self.with_conn(checks.snapshot_i1))
                except Exception:
                    pass  # the database is restarting
                run.stop.wait(1.0)

        run.threads.append(threading.Thread(target=monitor, daemon=True))
        run.threads[0].start()
        run.probe = HealthProbe(self.http, rec)
        run.threads.append(run.probe.run(run.stop))
        people = People(
            self.http,
            rec,
            self.pool,
            timeout=p.heartbeat_timeout,
            threads=p.people_threads,
            seed=self.rng.random(),
        )
        run.threads += people.run(run.stop)

        def backlog() -> int:
            try:
                return self.query(
                    "SELECT COUNT(*) FROM qc_tasks WHERE status = 'PENDING'", patience=0
                )[0][0]
            except Exception:
                return 0

        tag = f"s{len(self.outcomes)}"
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
            run.adversaries.append(producer.run(run.adversaries_stop))
        n_adv = run.scenario.adversaries or p.adversaries
        for i, me in enumerate(self.extra[:n_adv]):
            # Every adversary runs every race, each in an order of its own (shuffled by its
            # seed), so every kind runs early in the run.
            kinds = ADVERSARY_KINDS[i % 3 :] + ADVERSARY_KINDS[: i % 3]
            adv = Adversary(
                self.http,
                rec,
                me,
                self.supervisor,
                timeout=p.heartbeat_timeout,
                interval=p.interval,
                query=self.query,
                seed=self.rng.random(),
                kinds=(*kinds, "release_then_complete"),
            )
            run.adversaries.append(adv.run(run.adversaries_stop))

    def inject_faults(self, run: ScenarioRun) -> None:
        """The load with the scenario's faults, for `load_seconds`: assigners restarted when
        they die and resumed when they froze past the lock wait, an expected fault made
        certain early on, the database restarted on schedule, kills from outside."""
        p, sc, out = self.p, run.scenario, run.out
        hold = p.lock_wait + 1.5
        load_end = run.began + p.load_seconds
        restarts = sorted((run.began + f * p.load_seconds, sig) for f, sig in sc.db_restarts)
        next_kill = run.began + sc.external_kill_every if sc.external_kill_every else None
        next_worker_kill = run.began + sc.worker_kill_every if sc.worker_kill_every else None
        insist_at = run.began + p.load_seconds * INSIST_AT
        while time.monotonic() < load_end:
            self.check_deadline()
            self.supervise_assigners(sc, out, hold)
            now = time.monotonic()
            if self.webhooks is not None:
                self.webhooks.tick(now)
            if insist_at and now >= insist_at:
                insist_at = None
                self.insist(sc, out)
            if restarts and now >= restarts[0][0] and run.outage is None:
                _, sig = restarts.pop(0)
                run.outage = self.stop_database(sig, out)
            if run.outage is not None and now >= run.outage["down"] + DB_OUTAGE:
                self.end_outage(run)
            if next_kill and now >= next_kill:
                self.kill_random_assigner(out)
                next_kill = now + sc.external_kill_every * self.rng.uniform(0.5, 1.5)
            if next_worker_kill and now >= next_worker_kill:
                self.kill_random_web_worker(out)
                next_worker_kill = now + sc.worker_kill_every * self.rng.uniform(0.5, 1.5)
            time.sleep(0.1)

    def end_faults(self, run: ScenarioRun) -> None:
        """No more faults, while the load goes on: the database up, clean assigners in place
        of the armed ones, each through a first cycle (60 s at most)."""
        if run.outage is not None:
            self.end_outage(run)
        self.supervise_assigners(run.scenario, run.out, 0)
        for state in self.assigners:
            state["child"].stop(10)
        since = self.query("SELECT NOW(6)")[0][0]
        for slot in range(self.p.assigners):
            self.start_assigner(slot, run.scenario, armed=False)
        ready = time.monotonic() + 60
        while time.monotonic() < ready:
            cycled = self.query(
                "SELECT COUNT(*) FROM qc_assigners WHERE last_cycle_at >= %s", (since,)
            )[0][0]
            if cycled >= self.p.assigners:
                break
            time.sleep(0.2)

    def stop_load(self, run: ScenarioRun) -> None:
        """Stop the clients: the people first; the adversaries (and producers) go on alone,
        bounded, until every race has a verdict. A client thread that does not end, or a
        gunicorn master that died, is a violation. Recovery times are read here."""
        out, rec = run.out, run.rec
        run.stop.set()
        for t in run.threads:
            t.join(30)
        until = time.monotonic() + (45 if "races" in run.scenario.expect else 0)
        while time.monotonic() < until and self.undecided_races(rec):
            time.sleep(0.5)
        run.adversaries_stop.set()
        for t in run.adversaries:
            t.join(60)
        stuck = [t.name for t in run.threads + run.adversaries if t.is_alive()]
        if stuck:
            out.violations.append(f"client threads stuck: {stuck}")
        for t in run.measuring:
            t.join(60)
        for r in out.recovery:
            r["web"] = run.probe.first_ok_after(r["up"])
            r["api"] = rec.first_ok_after(r["up"])
        if self.web.returncode() is not None:
            out.violations.append(f"gunicorn exited (status {self.web.returncode()})")

    def check_sweep(self, run: ScenarioRun) -> None:
        """I3: with nobody sending anything, the sweep signs everyone out, and takes every
        task back, within heartbeat timeout + cycle + slack."""
        p = self.p
        limit = p.heartbeat_timeout + p.interval + p.slack
        deadline = time.monotonic() + limit + 2 * p.interval
        while time.monotonic() < deadline:
            if not self.query(
                "SELECT 1 FROM qc_personnel WHERE is_logged_in = 1 LIMIT 1"
            ) and not self.query("SELECT 1 FROM qc_tasks WHERE status = 'IN_PROGRESS' LIMIT 1"):
                break
            time.sleep(0.2)
        run.out.violations += self.with_conn(
            checks.stale_holders, timeout=p.heartbeat_timeout, interval=p.interval, slack=p.slack
        )

    def drain_watching_idle(self, run: ScenarioRun) -> None:
        """Fresh people complete everything left (90 s at most), while I2 is watched: no task
        waits while a live, free person has been idle longer than a cycle."""
        p = self.p
        drained = threading.Event()

        def watch_idle():
            while not drained.is_set():
                try:
                    run.idle.update(
                        self.with_conn(
                            checks.idle_while_waiting,
                            timeout=p.heartbeat_timeout,
                            interval=p.interval,
                            slack=2.0,
                        )
                    )
                except Exception as exc:
                    run.idle.add(f"I2 check failed: {exc!r}")
                drained.wait(0.5)

        watcher = threading.Thread(target=watch_idle, daemon=True)
        watcher.start()
        drain(
            self.http,
            run.rec,
            self.drainers,
            open_tasks=lambda: self.query(
                "SELECT COUNT(*) FROM qc_tasks WHERE status IN ('PENDING', 'IN_PROGRESS')"
            )[0][0],
            stop=drained,
            deadline=time.monotonic() + 90,
        )
        watcher.join(10)

    def check_webhooks(self, run: ScenarioRun) -> None:
        """The webhook scenario: every event delivered at least once, in order per task
        (chaos/webhooks.py)."""
        if self.webhooks is not None:
            self.webhooks.finish()
            self.webhooks = None

    def check_tables(self, run: ScenarioRun) -> None:
        """The violations seen live (I1 under load, I2 in the drain), then the quiet tables:
        I1 and I4 in SQL, the accounting of every task against what the clients were told
        (I3, I5, lost tasks), the suite's own ORM check, and every answer no endpoint may
        give."""
        out, rec = run.out, run.rec
        out.violations += sorted(run.live_violations) + sorted(run.idle)
        out.violations += self.with_conn(checks.final_checks)
        found, out.lost, run.figures = checks.accounting(self.conn(), rec.batches, rec.completes)
        out.violations += found
        out.violations += self.reuse_assert_invariants(run.figures["tasks"])
        out.violations += sorted(set(rec.unexpected))[:20]

    def judge_races(self, run: ScenarioRun) -> None:
        """The adversaries' verdicts by race: each violation is one, and the races that came
        out "ok" count as injected faults."""
        races: dict = {}
        for kind, verdict, detail in run.rec.races:
            races.setdefault(kind, {}).setdefault(verdict, 0)
            races[kind][verdict] += 1
            if verdict == "violation":
                run.out.violations.append(f"race {kind}: {detail}")
        run.out.races = races
        race_ok = sum(v.get("ok", 0) for v in races.values())
        if race_ok:
            run.out.faults["races"] = race_ok

    def collect_figures(self, run: ScenarioRun) -> None:
        """The outcome's figures (people, tasks, requests, answers and latency per endpoint)
        and the expected faults that did not happen."""
        out, rec = run.out, run.rec
        out.people = len(rec.people_seen)
        out.tasks = run.figures["tasks"]
        out.reviews = run.figures["reviews"]
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
        out.missing_faults = self.missing_faults(run.scenario, out)

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

    # --- the whole run -----------------------------------------------------------------------

    def run(self, only: str | None) -> list[Outcome]:
        for sc in self.p.scenarios:
            if only and only.lower() not in sc.name.lower():
                continue
            self.check_deadline()
            print(f"--- {sc.name}", flush=True)
            outcome = self.run_scenario(sc)
            self.outcomes.append(outcome)
            print(f"    {summary_line(outcome)}", flush=True)
        return self.outcomes

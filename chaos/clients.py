"""Simulated QC people, producers and adversaries: HTTP clients of the web app.

Every request's outcome goes to a `Recorder`; what the clients were told (tasks created,
completes answered 200, races and their answers) is what the checks compare with the tables
afterwards. All loops end when the stop event is set, and every wait is bounded.
"""

import heapq
import http.client
import itertools
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

# Answers each call may get while faults are injected. 503 is the API's documented answer
# while the database is unavailable (or a row stays locked past every retry); 0 stands for
# no HTTP answer at all (connection refused, reset or timed out).
ALLOWED = {
    "login": {200, 503, 0},
    "logout": {200, 503, 0},
    "heartbeat": {200, 409, 503, 0},
    "complete": {200, 409, 503, 0},
    "create": {201, 503, 0},
    "create-invalid": {400, 503, 0},
    "healthz": {200, 503, 0},
    "release": {200, 409, 503, 0},
    "person": {200, 503, 0},
}


@dataclass
class Reply:
    status: int
    data: object
    started: float
    ended: float


class Http:
    """One request per connection (gunicorn's sync workers close after each response)."""

    def __init__(self, port: int, *, timeout: float = 20.0):
        self.port = port
        self.timeout = timeout

    def call(self, method: str, path: str, *, body=None, token: str | None = None) -> Reply:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            return Reply(0, None, started, time.monotonic())
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw[:200]
        return Reply(status, data, started, time.monotonic())


@dataclass
class Batch:
    """One POST /tasks: what was sent, and what the client was told."""

    descriptions: list[str]
    status: int = -1
    ids: list[int] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.status == 201:
            return "ok"
        if 400 <= self.status < 500:
            return "refused"
        return "unknown"  # 503 or no answer: it may or may not have committed


class Recorder:
    """Thread-safe log of everything the clients saw."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.unexpected: list[str] = []
        self.batches: list[Batch] = []
        self.completes: list[tuple[int, int, int]] = []  # (task, person, status)
        self.races: list[tuple[str, str, str]] = []  # (kind, verdict, detail)
        self.ok_times: list[float] = []
        self.people_seen: set[int] = set()
        self.latency: dict[str, list[float]] = {}

    def saw(self, label: str, reply: Reply, person: int | None = None) -> Reply:
        with self.lock:
            self.statuses[(label, reply.status)] += 1
            self.latency.setdefault(label, []).append(reply.ended - reply.started)
            if person is not None:
                self.people_seen.add(person)
            if 200 <= reply.status < 300:
                self.ok_times.append(reply.ended)
            if reply.status not in ALLOWED.get(label, ()):
                self.unexpected.append(f"{label} -> {reply.status}: {str(reply.data)[:160]}")
        return reply

    def race(self, kind: str, verdict: str, detail: str = "") -> None:
        with self.lock:
            self.races.append((kind, verdict, detail))

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def first_ok_after(self, moment: float) -> float | None:
        with self.lock:
            later = [t for t in self.ok_times if t >= moment]
        return min(later) - moment if later else None


# The defect catalogue the harness seeds (`Harness._make_people`); the people log these.
DEFECT_CODES = ("SCRATCH", "DENT", "LABEL-MISSING")


def review_body(rng: random.Random) -> dict | None:
    """A review as a QC person sends it (docs/engine.md, "Outcomes"): mostly a pass or a
    fail, sometimes with notes and defect codes (in any case: the API normalises them),
    sometimes nothing at all (a bare complete)."""
    roll = rng.random()
    if roll < 0.25:
        return None
    body: dict = {"outcome": "fail" if rng.random() < 0.25 else "pass"}
    if body["outcome"] == "fail" and rng.random() < 0.6:
        codes = rng.sample(DEFECT_CODES, rng.randint(1, 2))
        body["defects"] = [c.lower() if rng.random() < 0.3 else c for c in codes]
    if rng.random() < 0.2:
        body["notes"] = rng.choice(["looks fine", "checked twice", "edge case"])
    return body


@dataclass
class Identity:
    person_id: int
    token: str


def _task_id(task) -> int | None:
    return task["id"] if isinstance(task, dict) else None


# --- simulated QC people --------------------------------------------------------------------


@dataclass(order=True)
class _Sim:
    due: float
    person_id: int = field(compare=False)
    token: str = field(compare=False)
    online: bool = field(default=False, compare=False)
    task: int | None = field(default=None, compare=False)
    work_until: float = field(default=0.0, compare=False)
    next_beat: float = field(default=0.0, compare=False)
    session_end: float = field(default=0.0, compare=False)


class People:
    """A few hundred QC people, each a small state machine stepped by `threads` threads.

    The profiles give every person a thread of their own, so a slow answer to one person
    never makes another miss a heartbeat. Each signs in, sends heartbeats, works on a task
    for a random time and completes it. Sessions end: some sign out (mid-task or idle), some
    vanish without a word; most come back later, some never. Times scale with the heartbeat
    timeout.
    """

    def __init__(
        self,
        http: Http,
        rec: Recorder,
        who: list[Identity],
        *,
        timeout: float,
        threads: int,
        seed: int,
    ):
        self.http, self.rec = http, rec
        self.timeout = timeout
        self.beat = timeout / 3
        self.rng = random.Random(seed)
        self.groups = [who[i::threads] for i in range(threads)]

    def run(self, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for i, group in enumerate(self.groups):
            rng = random.Random(self.rng.random())
            t = threading.Thread(
                target=self._loop, args=(group, rng, stop), name=f"people-{i}", daemon=True
            )
            t.start()
            threads.append(t)
        return threads

    def _loop(self, group: list[Identity], rng: random.Random, stop: threading.Event) -> None:
        now = time.monotonic()
        heap = [_Sim(now + rng.uniform(0, 3 * self.timeout), p.person_id, p.token) for p in group]
        heapq.heapify(heap)
        while heap and not stop.is_set():
            sim = heap[0]
            wait = sim.due - time.monotonic()
            if wait > 0:
                stop.wait(min(wait, 0.5))
                continue
            heapq.heappop(heap)
            self._step(sim, rng)
            if sim.due != float("inf"):
                heapq.heappush(heap, sim)

    def _work_time(self, rng) -> float:
        # Some shorter than a heartbeat period, some spanning several heartbeats.
        return rng.choice([rng.uniform(0.2, self.beat), rng.uniform(self.beat, 4 * self.beat)])

    def _take(self, sim: _Sim, task, rng) -> None:
        new = _task_id(task)
        if new is not None and new != sim.task:
            sim.work_until = time.monotonic() + self._work_time(rng)
        sim.task = new

    def _step(self, sim: _Sim, rng: random.Random) -> None:
        now = time.monotonic()
        http, rec, pid, token = self.http, self.rec, sim.person_id, sim.token
        if not sim.online:
            r = rec.saw(
                "login",
                http.call("POST", "/personnel/login", body={"person_id": pid}, token=token),
                pid,
            )
            if r.status == 200:
                sim.online = True
                sim.session_end = now + rng.uniform(2, 5) * self.timeout
                sim.next_beat = now + self.beat * rng.uniform(0.8, 1.0)
                sim.task = None
                self._take(sim, r.data.get("current_task"), rng)
                sim.due = self._next(sim)
            else:
                sim.due = now + rng.uniform(0.3, 1.0)
            return

        if now >= sim.session_end:
            roll = rng.random()
            if roll < 0.55:  # signs out, mid-task or idle: the task goes back to the queue
                r = rec.saw(
                    "logout", http.call("POST", f"/personnel/{pid}/logout", token=token), pid
                )
                if r.status != 200:
                    sim.due = now + 0.5
                    return
            # else: vanishes without a word; the sweep signs them out after the timeout
            sim.online, sim.task = False, None
            if rng.random() < 0.12:
                sim.due = float("inf")  # never comes back
            else:
                sim.due = now + rng.uniform(1.5, 8) * self.timeout
            return

        if sim.task is not None and now >= sim.work_until:
            task = sim.task
            r = rec.saw(
                "complete",
                http.call("POST", f"/tasks/{task}/complete", body=review_body(rng), token=token),
                pid,
            )
            with rec.lock:
                rec.completes.append((task, pid, r.status))
            if r.status == 200:
                sim.task = None
                sim.next_beat = now + self.beat
                self._take(sim, r.data.get("next_task"), rng)
            elif r.status == 409:
                sim.task = None
                sim.next_beat = now  # ask what is going on
            else:
                sim.work_until = now + rng.uniform(0.2, 0.8)  # retry the complete
            sim.due = self._next(sim)
            return

        if now >= sim.next_beat:
            r = rec.saw(
                "heartbeat", http.call("POST", f"/personnel/{pid}/heartbeat", token=token), pid
            )
            if r.status == 200:
                sim.next_beat = now + self.beat * rng.uniform(0.8, 1.0)
                self._take(sim, r.data.get("current_task"), rng)
            elif r.status == 409:  # the session expired: start again
                sim.online, sim.task = False, None
                sim.due = now + rng.uniform(0.1, 0.5)
                return
            else:
                sim.next_beat = now + 0.3
        sim.due = self._next(sim)

    def _next(self, sim: _Sim) -> float:
        moments = [sim.next_beat, sim.session_end]
        if sim.task is not None:
            moments.append(sim.work_until)
        return max(min(moments), time.monotonic() + 0.01)


# --- producers ---------------------------------------------------------------------------------


class Producer:
    """Creates tasks through the API, singly and in bulk, with unique descriptions, a share
    of them needing two reviews (`reviews_required`); now and then sends a bulk that must
    be refused whole (one blank or over-long description)."""

    def __init__(
        self,
        http: Http,
        rec: Recorder,
        token: str,
        *,
        tag: str,
        rate: float,
        max_tasks: int,
        backlog,
        max_backlog: int,
        seed: int,
        two_reviews: float = 0.25,
    ):
        self.http, self.rec, self.token = http, rec, token
        self.tag, self.rate, self.max_tasks = tag, rate, max_tasks
        self.backlog, self.max_backlog = backlog, max_backlog
        self.rng = random.Random(seed)
        self.counter = itertools.count()
        self.sent = 0
        self.two_reviews = two_reviews

    def run(self, stop: threading.Event) -> threading.Thread:
        t = threading.Thread(target=self._loop, args=(stop,), name="producer", daemon=True)
        t.start()
        return t

    def _loop(self, stop: threading.Event) -> None:
        rng = self.rng
        while not stop.is_set() and self.sent < self.max_tasks:
            if self.backlog() > self.max_backlog:
                stop.wait(0.5)
                continue
            n = 1 if rng.random() < 0.5 else rng.randint(2, 20)
            n = min(n, self.max_tasks - self.sent)
            descriptions = [f"chaos {self.tag} {next(self.counter)}" for _ in range(n)]
            invalid = rng.random() < 0.04
            if invalid:
                bad = rng.choice(["   ", "x" * 10_001])
                descriptions.insert(rng.randint(0, len(descriptions)), bad)
            body = [
                {"description": d, "reviews_required": 2}
                if rng.random() < self.two_reviews
                else {"description": d}
                for d in descriptions
            ]
            batch = Batch(descriptions=descriptions)
            r = self.rec.saw(
                "create-invalid" if invalid else "create",
                self.http.call(
                    "POST", "/tasks", body=body if n > 1 or invalid else body[0], token=self.token
                ),
            )
            batch.status = r.status
            if r.status == 201:
                items = r.data if isinstance(r.data, list) else [r.data]
                batch.ids = [item["id"] for item in items]
            with self.rec.lock:
                self.rec.batches.append(batch)
            if not invalid:
                self.sent += n
            stop.wait(n / self.rate)


# --- adversaries: duplicate and late requests ------------------------------------------------


def at_once(*calls):
    """Run the calls in threads released together; return their results in order."""
    barrier = threading.Barrier(len(calls), timeout=10)
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


class Adversary:
    """One person who races requests against each other and against the engine:

    - two completes of one task at once (by the person twice, or person and supervisor);
    - a sign-out racing a complete;
    - going silent until the sweep takes the task back, then a late complete (must be 409)
      and a late heartbeat (must be 409 session_expired), before signing in again;
    - a supervisor's release of the task, then the holder's complete (must be 409).

    `kinds` names the races (methods of this class); it runs them in turn, in an order its
    seed shuffles.
    Each race's verdict is decided from the answers and the tables (`query`).
    """

    def __init__(
        self,
        http: Http,
        rec: Recorder,
        me: Identity,
        supervisor_token: str,
        *,
        timeout: float,
        interval: float,
        query,
        seed: int,
        kinds: tuple[str, ...],
    ):
        self.http, self.rec, self.me, self.sup = http, rec, me, supervisor_token
        self.timeout, self.interval, self.query = timeout, interval, query
        self.rng = random.Random(seed)
        self.kinds = kinds

    def run(self, stop: threading.Event) -> threading.Thread:
        t = threading.Thread(target=self._loop, args=(stop,), name="adversary", daemon=True)
        t.start()
        return t

    def _call(self, label, method, path, *, body=None, token=None):
        return self.rec.saw(
            label,
            self.http.call(method, path, body=body, token=token or self.me.token),
            self.me.person_id,
        )

    def _loop(self, stop: threading.Event) -> None:
        kinds = itertools.cycle(self.rng.sample(self.kinds, len(self.kinds)))
        stop.wait(self.rng.uniform(0, 2))
        while not stop.is_set():
            kind = next(kinds)
            task = self._get_task(stop)
            if task is None:
                stop.wait(0.5)
                continue
            try:
                getattr(self, kind)(task, stop)
            except Exception as exc:  # a harness bug must not pass for a clean run
                self.rec.race(kind, "violation", f"harness error: {exc!r}")
            stop.wait(self.rng.uniform(0.1, 0.5))

    def _get_task(self, stop) -> int | None:
        pid = self.me.person_id
        r = self._call("login", "POST", "/personnel/login", body={"person_id": pid})
        deadline = time.monotonic() + 4 * self.timeout
        while r.status in (200, 503, 0) and not stop.is_set() and time.monotonic() < deadline:
            if r.status == 200 and _task_id(r.data.get("current_task")) is not None:
                return r.data["current_task"]["id"]
            stop.wait(self.timeout / 4)
            r = self._call("heartbeat", "POST", f"/personnel/{pid}/heartbeat")
            if r.status == 409:
                r = self._call("login", "POST", "/personnel/login", body={"person_id": pid})
        return None

    def _completions(self, task: int) -> list[tuple[int, str]]:
        return self.query(
            "SELECT person_id, end_reason FROM qc_assignments WHERE task_id = %s ORDER BY id",
            (task,),
        )

    def double_complete(self, task: int, stop) -> None:
        pid = self.me.person_id
        by_supervisor = self.rng.random() < 0.5
        second = self.sup if by_supervisor else self.me.token
        path = f"/tasks/{task}/complete"
        a, b = at_once(
            lambda: self._call("complete", "POST", path),
            lambda: self._call("complete", "POST", path, token=second),
        )
        rows = self._completions(task)
        done = [p for p, reason in rows if reason == "COMPLETED"]
        required = self.query("SELECT reviews_required FROM qc_tasks WHERE id = %s", (task,))
        required = required[0][0] if required else 1
        who = "supervisor" if by_supervisor else "person"
        answers = f"person {a.status}, {who} {b.status}; completions by {done} of {required} needed"
        # A 200 to the person means the person completed it (now or just before); a 200 to
        # a supervisor means whoever held it then did (the task may have moved on: with
        # several reviews, to its next reviewer, whose review the supervisor's complete is).
        person_ok = a.status == 200 or (not by_supervisor and b.status == 200)
        if len(done) > required or len(set(done)) != len(done):
            verdict = "violation"
        elif person_ok and pid not in done:
            verdict = "violation"
        elif 200 in (a.status, b.status) and not done:
            verdict = "violation"
        elif {a.status, b.status} <= {503, 0}:
            verdict = "inconclusive"
        else:
            verdict = "ok"
        self.rec.race("double_complete", verdict, f"task {task}: {answers}")

    def logout_vs_complete(self, task: int, stop) -> None:
        pid = self.me.person_id
        done, out = at_once(
            lambda: self._call("complete", "POST", f"/tasks/{task}/complete"),
            lambda: self._call("logout", "POST", f"/personnel/{pid}/logout"),
        )
        mine = [reason for p, reason in self._completions(task) if p == pid]
        last = mine[-1] if mine else None
        answers = f"complete {done.status}, logout {out.status}, my assignment ended {last}"
        if done.status == 200 and last != "COMPLETED":
            self.rec.race("logout_vs_complete", "violation", f"task {task}: {answers}")
        elif done.status == 409 and last == "COMPLETED":
            self.rec.race("logout_vs_complete", "violation", f"task {task}: {answers}")
        elif done.status in (503, 0) or out.status in (503, 0):
            self.rec.race("logout_vs_complete", "inconclusive", answers)
        else:
            self.rec.race("logout_vs_complete", "ok", answers)

    def late_complete(self, task: int, stop) -> None:
        """Fall silent until the sweep takes the task back; then complete it and beat."""
        pid = self.me.person_id
        deadline = time.monotonic() + self.timeout + 6 * self.interval + 10
        released = False
        while time.monotonic() < deadline and not stop.is_set():
            rows = self.query("SELECT is_logged_in FROM qc_personnel WHERE id = %s", (pid,))
            if rows and not rows[0][0]:
                released = True
                break
            stop.wait(0.25)
        if not released:
            self.rec.race("late_complete", "inconclusive", f"task {task} not swept in time")
            return
        # Give someone else the chance to take it (not waited for: either way it must be 409).
        holder = None
        until = time.monotonic() + 2 * self.interval + 0.5
        while time.monotonic() < until and not stop.is_set():
            rows = self.query("SELECT status, assigned_to_id FROM qc_tasks WHERE id = %s", (task,))
            if rows and rows[0][0] != "PENDING":
                holder = rows[0][1]
                break
            stop.wait(0.1)
        done = self._call("complete", "POST", f"/tasks/{task}/complete")
        beat = self._call("heartbeat", "POST", f"/personnel/{pid}/heartbeat")
        mine_done = [
            p for p, reason in self._completions(task) if reason == "COMPLETED" and p == pid
        ]
        code = beat.data.get("code") if isinstance(beat.data, dict) else None
        answers = (
            f"task {task} (now with {holder}): late complete {done.status}, "
            f"late heartbeat {beat.status} {code}"
        )
        if done.status == 200 or mine_done:
            self.rec.race("late_complete", "violation", f"I5 broken: {answers}")
        elif beat.status == 200:
            self.rec.race("late_heartbeat", "violation", f"swept session revived: {answers}")
        elif done.status != 409 or beat.status != 409:
            self.rec.race("late_complete", "inconclusive", answers)
        else:
            verdict = "ok" if code == "session_expired" else "violation"
            self.rec.race("late_complete", "ok", answers)
            self.rec.race("late_heartbeat", verdict, answers)

    def release_then_complete(self, task: int, stop) -> None:
        pid = self.me.person_id
        rel = self._call("release", "POST", f"/tasks/{task}/release", token=self.sup)
        done = self._call("complete", "POST", f"/tasks/{task}/complete")
        history = self._completions(task)
        mine_done = [p for p, reason in history if reason == "COMPLETED" and p == pid]
        # After the release the engine may rightly give the task back to me (a later cycle,
        # or my own next pick): then my complete is of that new assignment, not the fenced one.
        mine = [reason for p, reason in history if p == pid]
        given_back = "RELEASED" in mine and mine.index("RELEASED") < len(mine) - 1
        answers = f"task {task}: release {rel.status}, complete {done.status}"
        if rel.status == 200 and given_back and done.status == 200:
            self.rec.race("release_then_complete", "inconclusive", f"given back: {answers}")
        elif rel.status == 200 and (done.status == 200 or mine_done):
            self.rec.race("release_then_complete", "violation", f"I5 broken: {answers}")
        elif rel.status != 200 or done.status != 409:
            self.rec.race("release_then_complete", "inconclusive", answers)
        else:
            self.rec.race("release_then_complete", "ok", answers)


# --- drainers and the health probe ---------------------------------------------------------


def drain(
    http: Http,
    rec: Recorder,
    who: list[Identity],
    *,
    open_tasks,
    stop: threading.Event,
    deadline: float,
) -> None:
    """Sign these people in and have them complete everything left, until nothing is open."""

    def worker(me: Identity):
        pid = me.person_id
        task = None
        while not stop.is_set() and time.monotonic() < deadline:
            if task is None:
                r = rec.saw(
                    "login",
                    http.call("POST", "/personnel/login", body={"person_id": pid}, token=me.token),
                    pid,
                )
                task = _task_id(r.data.get("current_task")) if r.status == 200 else None
                if task is None:
                    stop.wait(0.2)
                continue
            r = rec.saw(
                "complete", http.call("POST", f"/tasks/{task}/complete", token=me.token), pid
            )
            with rec.lock:
                rec.completes.append((task, pid, r.status))
            if r.status == 200:
                task = _task_id(r.data.get("next_task"))
            elif r.status == 409:
                task = None
            else:
                stop.wait(0.2)

    threads = [threading.Thread(target=worker, args=(me,), daemon=True) for me in who]
    for t in threads:
        t.start()
    quiet_since = None
    while time.monotonic() < deadline and not stop.is_set():
        if open_tasks() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 0.5:
                break
        else:
            quiet_since = None
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(30)
    for me in who:
        rec.saw("logout", http.call("POST", f"/personnel/{me.person_id}/logout", token=me.token))


class HealthProbe:
    """Polls /healthz; remembers when it answered 200."""

    def __init__(self, http: Http, rec: Recorder):
        self.http, self.rec = http, rec
        self.ok_times: list[float] = []
        self.lock = threading.Lock()

    def run(self, stop: threading.Event) -> threading.Thread:
        def loop():
            while not stop.is_set():
                r = self.rec.saw("healthz", self.http.call("GET", "/healthz"))
                if r.status == 200:
                    with self.lock:
                        self.ok_times.append(r.ended)
                stop.wait(0.1)

        t = threading.Thread(target=loop, name="healthz", daemon=True)
        t.start()
        return t

    def first_ok_after(self, moment: float) -> float | None:
        with self.lock:
            later = [t for t in self.ok_times if t >= moment]
        return min(later) - moment if later else None


def wait_http(http: Http, path: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http.call("GET", path).status == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"GET {path} did not answer 200 within {timeout:.0f}s")

"""Simulated QC people for the demo: they sign in, work tasks at a human pace, complete
them, take breaks and sign out, while a producer adds tasks, all through the REST API with
their own tokens, as the portal would. `make run` starts it beside the web server and the
assigner (off with DEMO_CREW=0)."""

import json
import logging
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from personnel.management.commands.seed_demo import (
    DEFAULT_SUPERVISOR_PASSWORD,
    PEOPLE,
    PERSON_PASSWORD,
    SUPERVISOR_USERNAME,
    TASKS,
)

logger = logging.getLogger("personnel.demo_crew")

REQUEST_TIMEOUT = 15
# Seconds, at --pace 1: a task takes a person this long, a heartbeat goes this often while
# working (the portal's 25 s) and while waiting for work, a break lasts this long.
WORK = (15, 60)
WORKING_BEAT = 25
WAITING_BEAT = 4
BREAK = (30, 90)
BREAK_CHANCE = 0.08  # after each completed task
# A review's verdict: a fail this often (with 1–2 codes of GET /defect-codes), a note this
# often with either verdict.
FAIL_CHANCE = 0.15
NOTE_CHANCE = 0.3
PASS_NOTES = ["All within spec.", "Checked against the drawing, rev C.", "Sample of 10, all good."]
FAIL_NOTES = ["Found on 2 of 10 units.", "Photos attached to the NCR.", "Batch put on hold."]
# A share of the producer's tasks needs two reviews (each by a different person).
TWO_REVIEWS_CHANCE = 0.2
# The producer keeps the queue between these, adding a few tasks at a time.
QUEUE_LOW, QUEUE_HIGH = 4, 20


class ApiError(Exception):
    def __init__(self, status: int, body: dict | None):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body or {}


class Client:
    """A JSON client of the API for one user: a token from POST /auth/token with the
    password (again when the token expires), then `Authorization: Token …`."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.token = None

    def _request(self, method: str, path: str, body=None, *, auth=True) -> dict | list | None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"null")
            except ValueError:
                payload = None
            raise ApiError(exc.code, payload if isinstance(payload, dict) else None) from exc
        return json.loads(raw) if raw else None

    def sign_in(self) -> None:
        answer = self._request(
            "POST",
            "/auth/token",
            {"username": self.username, "password": self.password},
            auth=False,
        )
        self.token = answer["token"]

    def call(self, method: str, path: str, body=None):
        if self.token is None:
            self.sign_in()
        try:
            return self._request(method, path, body)
        except ApiError as exc:
            if exc.status != 401:
                raise
            self.sign_in()  # the token expired or was revoked
            return self._request(method, path, body)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    completed: int = 0
    failed: int = 0  # of the completed: reviews with a fail
    created: int = 0
    sign_ins: int = 0
    breaks: int = 0
    errors: int = 0

    def add(self, **counts) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


class Person:
    """One QC person at work, in a thread of their own."""

    def __init__(self, client: Client, *, stop, pace: float, rng, tally: Tally, say):
        self.client = client
        self.stop = stop
        self.pace = pace
        self.rng = rng
        self.tally = tally
        self.say = say
        self.person = None  # the API's person object, as last answered
        self.defect_codes = None  # the active codes (GET /defect-codes), read when needed

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds` at the crew's pace; False when the crew is stopping."""
        return not self.stop.wait(seconds * self.pace)

    def run(self) -> None:
        if not self.wait(self.rng.uniform(0, 8)):
            return
        while not self.stop.is_set():
            try:
                self.shift()
            except (ApiError, OSError) as exc:
                self.tally.add(errors=1)
                logger.debug("%s: %s; trying again", self.client.username, exc)
                self.stop.wait(2)  # the server may be starting, or restarting
        self.sign_out()

    def shift(self) -> None:
        """Sign in, work until a break, sign out for it."""
        self.person = self.client.call("POST", "/personnel/login", {})
        self.defect_codes = None  # a supervisor may have changed the catalogue meanwhile
        self.tally.add(sign_ins=1)
        self.say(f"{self.person['name']} signed in")
        while not self.stop.is_set():
            task = self.person.get("current_task")
            if task is None:
                if not self.wait(WAITING_BEAT):
                    return
                if not self.heartbeat():
                    return  # the session expired: sign in again
                continue
            if not self.work_on(task):
                return
            if self.rng.random() < BREAK_CHANCE:
                self.sign_out()
                self.tally.add(breaks=1)
                self.say(f"{self.person['name']} takes a break")
                self.wait(self.rng.uniform(*BREAK))
                return

    def work_on(self, task: dict) -> bool:
        """Work on the task at a human pace (heartbeats meanwhile), then complete it.
        False when the session ended (expired, or a supervisor intervened)."""
        remaining = self.rng.uniform(*WORK)
        while remaining > 0:
            step = min(remaining, WORKING_BEAT)
            if not self.wait(step):
                return False
            remaining -= step
            if not self.heartbeat():
                return False
            current = self.person.get("current_task")
            if current is None or current["id"] != task["id"]:
                return True  # a supervisor moved the task: go on with what there is
        verdict = self.verdict()
        try:
            try:
                answer = self.client.call("POST", f"/tasks/{task['id']}/complete", verdict)
            except ApiError as exc:
                if exc.status != 400 or not verdict.get("defects"):
                    raise
                # A supervisor retired a code meanwhile: the catalogue again, the verdict alone.
                self.defect_codes = None
                verdict.pop("defects")
                answer = self.client.call("POST", f"/tasks/{task['id']}/complete", verdict)
        except ApiError as exc:
            if exc.status == 409:  # released or reassigned meanwhile
                return self.heartbeat()
            raise
        self.tally.add(completed=1, failed=int(verdict["outcome"] == "fail"))
        found = f" ({', '.join(verdict['defects'])})" if verdict.get("defects") else ""
        self.say(f"{self.person['name']} completed task {task['id']}: {verdict['outcome']}{found}")
        self.person["current_task"] = answer.get("next_task")
        return True

    def verdict(self) -> dict:
        """A review as a person gives one: mostly a pass; a fail logs one or two codes of the
        active catalogue (GET /defect-codes, read once a shift); now and then a note."""
        if self.rng.random() < FAIL_CHANCE:
            if self.defect_codes is None:
                self.defect_codes = [c["code"] for c in self.client.call("GET", "/defect-codes")]
            verdict = {"outcome": "fail", "notes": ""}
            if self.defect_codes:
                k = min(len(self.defect_codes), self.rng.randint(1, 2))
                verdict["defects"] = self.rng.sample(self.defect_codes, k)
            notes = FAIL_NOTES
        else:
            verdict, notes = {"outcome": "pass", "notes": ""}, PASS_NOTES
        if self.rng.random() < NOTE_CHANCE:
            verdict["notes"] = self.rng.choice(notes)
        return verdict

    def heartbeat(self) -> bool:
        try:
            self.person = self.client.call("POST", f"/personnel/{self.person['id']}/heartbeat")
        except ApiError as exc:
            if exc.status == 409:  # session expired or signed out by a supervisor
                return False
            raise
        return True

    def sign_out(self) -> None:
        if self.person is None or not self.person.get("is_logged_in", True):
            return
        try:
            self.client.call("POST", f"/personnel/{self.person['id']}/logout")
        except (ApiError, OSError) as exc:
            logger.debug("%s: sign-out failed (%s)", self.client.username, exc)
        self.person["is_logged_in"] = False


class Producer:
    """Adds a few tasks at a time while the queue runs low, as a system upstream would."""

    def __init__(self, client: Client, *, stop, pace: float, rng, tally: Tally, say):
        self.client = client
        self.stop = stop
        self.pace = pace
        self.rng = rng
        self.tally = tally
        self.say = say
        self.lot = rng.randrange(1000, 9000)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                pending = self.client.call("GET", "/tasks/queue/size")["pending"]
                if pending < QUEUE_HIGH:
                    wanted = self.rng.randint(1, 4) if pending >= QUEUE_LOW else QUEUE_LOW
                    self.client.call("POST", "/tasks", [self.task() for _ in range(wanted)])
                    self.tally.add(created=wanted)
                    self.say(f"producer added {wanted} tasks ({pending} were waiting)")
            except (ApiError, OSError) as exc:
                self.tally.add(errors=1)
                logger.debug("producer: %s; trying again", exc)
                self.stop.wait(2)
                continue
            self.stop.wait(self.rng.uniform(8, 20) * self.pace)

    def task(self) -> dict:
        """A new task like one of the demo's, for a new lot; some need two reviews."""
        self.lot += 1
        description = self.rng.choice(TASKS)[0]
        task = {"description": f"{description} (lot {self.lot})"}
        if self.rng.random() < TWO_REVIEWS_CHANCE:
            task["reviews_required"] = 2
        return task


class Command(BaseCommand):
    help = (
        "Run simulated QC people who sign in, work tasks at a human pace, complete them, take "
        "breaks and sign out, and a producer who adds tasks, through the REST API of a "
        "running server (the demo's people from seed_demo). Refuses unless DEBUG is on or "
        "--force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default=None,
            help="The server (default: http://$WEB_HOST:$WEB_PORT, else http://127.0.0.1:8000).",
        )
        parser.add_argument(
            "--seconds", type=float, default=0, help="Stop after this long (default: run on)."
        )
        parser.add_argument(
            "--pace",
            type=float,
            default=1.0,
            help="Time scale: 1 is a human pace (tens of seconds a task); 0.1 ten times faster.",
        )
        parser.add_argument(
            "--no-producer", action="store_true", help="Only the people; nobody adds tasks."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even though DEBUG is off. Never in production.",
        )

    def handle(self, *args, url=None, seconds=0, pace=1.0, seed=None, verbosity=1, **options):
        if not (settings.DEBUG or options["force"]):
            raise CommandError("DEBUG is off: this may be a production site. Use --force anyway.")
        if pace <= 0:
            raise CommandError("--pace must be positive.")
        url = url or "http://{}:{}".format(
            os.environ.get("WEB_HOST", "127.0.0.1"), os.environ.get("WEB_PORT", "8000")
        )
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        rng = random.Random(seed)
        tally = Tally()

        def say(text: str) -> None:
            if verbosity:
                self.stdout.write(f"[crew] {text}")

        supervisor_password = os.environ.get("QC_DEMO_PASSWORD") or DEFAULT_SUPERVISOR_PASSWORD
        workers = [
            Person(
                Client(url, username, PERSON_PASSWORD),
                stop=stop,
                pace=pace,
                rng=random.Random(rng.random()),
                tally=tally,
                say=say,
            )
            for username, *_ in PEOPLE
        ]
        if not options["no_producer"]:
            workers.append(
                Producer(
                    Client(url, SUPERVISOR_USERNAME, supervisor_password),
                    stop=stop,
                    pace=pace,
                    rng=random.Random(rng.random()),
                    tally=tally,
                    say=say,
                )
            )
        say(f"{len(PEOPLE)} people start work at {url} (pace {pace:g}); Ctrl-C stops them")
        threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + seconds if seconds else None
        while not stop.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                stop.set()
                break
            stop.wait(1.0 if left is None else min(1.0, left))
        for thread in threads:
            thread.join(REQUEST_TIMEOUT * 2)
        say(
            f"stopped: {tally.completed} tasks completed ({tally.failed} failed), "
            f"{tally.created} added, "
            f"{tally.sign_ins} sign-ins, {tally.breaks} breaks, {tally.errors} errors"
        )

"""What a chaos run does: the profiles (sizes and timings) and their fault scenarios.

A scenario says which fault each assigner process is armed with (`arm`, the environment
variables `qcproject/faults.py` reads), what else happens to the processes from outside
(database restarts, kill -9 of assigners and of gunicorn workers), and which kinds of fault
the run must show it injected (`expect`). The fault points are the `fault_point(...)` calls
in `tasks/assigner.py`.
"""

import random
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

ASSIGN_POINTS = (
    "assign.after_lock_people",
    "assign.after_lock_tasks",
    "assign.after_writes",
    "assign.after_commit",
)
SWEEP_POINTS = ("sweep.after_lock_people", "sweep.after_writes")
# The race verdicts a scenario that expects "races" must have seen come out "ok".
RACE_KINDS = ("double_complete", "logout_vs_complete", "late_complete", "late_heartbeat")

# (slot, restarts of that slot so far, the run's rng) -> the fault environment of the
# assigner process started in that slot.
Arming = Callable[[int, int, random.Random], dict]


def fault_env(point: str, action: str, probability: float) -> dict:
    """The environment that arms one fault point of an assigner process."""
    return {
        "QC_FAULT_POINT": point,
        "QC_FAULT_ACTION": action,
        "QC_FAULT_PROBABILITY": str(probability),
    }


@dataclass
class Scenario:
    name: str
    arm: Arming | None = None
    expect: tuple[str, ...] = ()  # fault kinds that must have happened
    db_restarts: tuple[tuple[float, int], ...] = ()  # (fraction of the load, signal)
    external_kill_every: float = 0.0  # seconds; kill -9 of a random assigner from outside
    worker_kill_every: float = 0.0  # seconds; kill -9 of a random gunicorn worker
    adversaries: int = 0  # 0: the profile's default
    webhooks: bool = False  # delivery workers killed, the receiver failing (chaos/webhooks.py)


def fixed(point: str, action: str = "kill", probability: float = 0.1) -> Arming:
    return lambda slot, n, rng: fault_env(point, action, probability)


def sweep_kills(slot: int, n: int, rng: random.Random) -> dict:
    return fault_env(SWEEP_POINTS[(slot + n) % 2], "kill", 0.3)


def stops(slot: int, n: int, rng: random.Random) -> dict:
    point = ("assign.after_lock_tasks", "sweep.after_lock_people", "assign.after_writes")[slot % 3]
    return fault_env(point, "stop", 0.15 if point.startswith("assign") else 0.4)


def anything(slot: int, n: int, rng: random.Random) -> dict:
    point = rng.choice(ASSIGN_POINTS + SWEEP_POINTS)
    return fault_env(point, "kill" if rng.random() < 0.7 else "stop", 0.1)


def short_mix(slot: int, n: int, rng: random.Random) -> dict:
    # Slot 0 is killed at each of the four assign points in turn, slot 1 freezes itself.
    if slot == 0:
        return fault_env(ASSIGN_POINTS[n % 4], "kill", 0.25)
    return fault_env("assign.after_lock_tasks", "stop", 0.25)


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

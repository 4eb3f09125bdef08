"""Reads for the supervisor dashboard and the metrics page.

Every query is bounded by an index: open tasks through `qc_tasks_queue`, signed-in people
through `qc_personnel_stale`, and the flow over a window through the timestamp indexes, so
a long history of completed tasks costs nothing here. Ages are measured against the
database's clock.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from personnel.models import Person
from qcproject.db import db_now

from . import counters, rollups, routing
from .models import (
    MAX_PRIORITY,
    RELEASE_REASONS,
    AssignerInstance,
    Assignment,
    AssignmentSource,
    Counter,
    DefectCode,
    EndReason,
    Exclusion,
    ExclusionReason,
    Outcome,
    Task,
    TaskStatus,
    WaitHour,
)
from .rollups import percentile  # noqa: F401  (the dashboard's and its tests')

WINDOWS = {
    "hour": (_("Last hour"), timedelta(hours=1)),
    "today": (_("Today"), None),  # since midnight in TIME_ZONE
    "week": (_("Last 7 days"), timedelta(days=7)),
}
# Percentiles are taken over the latest this many events in the window: enough for a
# median and a p90 to within half a percentile point, and a bounded read (from one index) however
# busy the window was.
PERCENTILE_SAMPLE = 5_000


@dataclass
class QueueStats:
    pending: int
    in_progress: int
    oldest_pending_age: timedelta | None


def queue_stats(*, now: datetime) -> QueueStats:
    counts = dict(
        Task.objects.filter(status__in=[TaskStatus.PENDING, TaskStatus.IN_PROGRESS])
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    oldest = Task.objects.pending().values_list("created_at", flat=True).first()
    return QueueStats(
        pending=counts.get(TaskStatus.PENDING, 0),
        in_progress=counts.get(TaskStatus.IN_PROGRESS, 0),
        oldest_pending_age=(now - oldest) if oldest else None,
    )


@dataclass
class PersonRow:
    id: int
    name: str
    task_id: int | None
    task_description: str | None
    time_on_task: timedelta | None
    since_heartbeat: timedelta | None
    completed_today: int


@dataclass
class PeopleStats:
    working: int
    idle: int
    signed_out: int
    rows: list[PersonRow] = field(default_factory=list)


def people_counts() -> dict[str, int]:
    """How many people are working, idle (signed in, no task) and signed out."""
    counts = {
        (logged_in, busy): n
        for logged_in, busy, n in Person.objects.values_list("is_logged_in", "is_busy")
        .annotate(n=Count("id"))
        .order_by()
    }
    return {
        "working": counts.get((True, True), 0),
        "idle": counts.get((True, False), 0),
        "signed_out": sum(n for (logged_in, _), n in counts.items() if not logged_in),
    }


def start_of_today(now: datetime) -> datetime:
    """Midnight of `now`'s day in the site's time zone (TIME_ZONE), as an aware datetime."""
    local = timezone.localtime(now)
    return timezone.make_aware(
        datetime(local.year, local.month, local.day), timezone.get_current_timezone()
    )


def people_stats(*, now: datetime) -> PeopleStats:
    today = start_of_today(now)
    current = Task.objects.filter(in_progress_person=OuterRef("pk"))
    done_today = (
        Assignment.objects.filter(person=OuterRef("pk"), completed_at__gte=today)
        .order_by()
        .values("person")
        .annotate(n=Count("id"))
        .values("n")
    )
    people = (
        Person.objects.logged_in()
        .annotate(
            task_id=Subquery(current.values("id")[:1]),
            task_description=Subquery(current.values("description")[:1]),
            task_since=Subquery(
                Assignment.objects.filter(open_person=OuterRef("pk")).values("assigned_at")[:1]
            ),
            completed_today=Subquery(done_today),
        )
        .order_by("name", "id")
    )
    rows = [
        PersonRow(
            id=p.pk,
            name=p.name,
            task_id=p.task_id,
            task_description=p.task_description,
            time_on_task=(now - p.task_since) if p.task_since else None,
            since_heartbeat=(now - p.last_heartbeat) if p.last_heartbeat else None,
            completed_today=p.completed_today or 0,
        )
        for p in people
    ]
    return PeopleStats(**people_counts(), rows=rows)


@dataclass
class FlowStats:
    since: datetime
    created: int
    assigned: int
    completed: int
    released: dict[str, int]
    wait_median: float | None
    wait_p90: float | None
    handle_median: float | None
    handle_p90: float | None
    wait_sample: int
    handle_sample: int


def window_start(window: str, *, now: datetime) -> datetime:
    label, span = WINDOWS[window]
    if span is None:
        return start_of_today(now)
    return now - span


def flow_stats(*, since: datetime) -> FlowStats:
    """What flowed through the queue since `since`.

    The counts add the window's whole hours from the hourly counters (`counters.since`: at
    most 168 rows a name for a week, whatever the history holds) to its first, partial
    hour counted from the history's timestamps through their indexes (less than an hour's
    rows). Events that straddle an hour's boundary by the milliseconds between their
    timestamp and their count may be counted in the neighbouring hour. The percentiles
    are taken over the latest PERCENTILE_SAMPLE events of the window.
    """
    boundary = _next_hour(since)
    edge = _counts_between(since, boundary)
    hours = counters.since(boundary)
    # The durations are computed by the database, from the index alone (qc_tasks_waits,
    # qc_assignments_handled): no row lookups, and no timestamps to parse in Python.
    waits = _seconds(
        Task.objects.filter(first_assigned_at__gte=since).order_by("-first_assigned_at"),
        F("first_assigned_at") - F("created_at"),
    )
    handles = _seconds(
        Assignment.objects.filter(completed_at__gte=since).order_by("-completed_at"),
        F("completed_at") - F("assigned_at"),
    )
    return FlowStats(
        since=since,
        created=edge[counters.CREATED] + hours.get(counters.CREATED, 0),
        assigned=edge["assigned"]
        + sum(hours.get(counters.assignments(s), 0) for s in AssignmentSource.values),
        completed=edge[counters.COMPLETIONS] + hours.get(counters.COMPLETIONS, 0),
        released={
            reason: edge["released"].get(reason, 0) + hours.get(counters.releases(reason), 0)
            for reason in RELEASE_REASONS
        },
        wait_median=percentile(waits, 50),
        wait_p90=percentile(waits, 90),
        handle_median=percentile(handles, 50),
        handle_p90=percentile(handles, 90),
        wait_sample=len(waits),
        handle_sample=len(handles),
    )


def _next_hour(since: datetime) -> datetime:
    """The first whole hour at or after `since`: a window's counts add the counters' hours
    from it to the history's events between `since` and it."""
    boundary = since.replace(minute=0, second=0, microsecond=0)
    return boundary + timedelta(hours=1) if boundary < since else boundary


def _seconds(rows, duration) -> list[float]:
    """The `duration` (a difference of two datetimes) of the first PERCENTILE_SAMPLE `rows`,
    in seconds, sorted.

    Read as the integer microseconds the database computes (TIMESTAMPDIFF on MySQL and
    MariaDB, Django's timestamp difference on SQLite): a DurationField would make a
    timedelta of each value of a busy window, most of the read's time (docs/benchmarks.md,
    history case, the 7-day dashboard).
    """
    micros = rows.annotate(
        d=ExpressionWrapper(duration, output_field=BigIntegerField())
    ).values_list("d", flat=True)[:PERCENTILE_SAMPLE]
    return sorted(m / 1_000_000 for m in micros)


def flow_counts_from_history(*, start: datetime, end: datetime | None = None) -> dict:
    """The flow's counts between `start` and `end` (default: no end) from the history's
    timestamps, through their indexes: in proportion to the events of that span."""
    created = Task.objects.filter(created_at__gte=start)
    assigned = Assignment.objects.filter(assigned_at__gte=start)
    completed = Assignment.objects.filter(completed_at__gte=start)
    released = Assignment.objects.filter(
        end_reason__in=RELEASE_REASONS,
        ended_at__gte=start,
    )
    if end is not None:
        created = created.filter(created_at__lt=end)
        assigned = assigned.filter(assigned_at__lt=end)
        completed = completed.filter(completed_at__lt=end)
        released = released.filter(ended_at__lt=end)
    return {
        counters.CREATED: created.count(),
        "assigned": assigned.count(),
        counters.COMPLETIONS: completed.count(),
        "released": dict(released.values_list("end_reason").annotate(n=Count("id")).order_by()),
    }


def _counts_between(start: datetime, end: datetime) -> dict:
    if end <= start:
        return {counters.CREATED: 0, "assigned": 0, counters.COMPLETIONS: 0, "released": {}}
    return flow_counts_from_history(start=start, end=end)


@dataclass
class AssignerRow:
    name: str
    since_last_cycle: timedelta | None
    last_cycle_seconds: float
    cycles: int


def assigner_stats(*, now: datetime) -> list[AssignerRow]:
    return [
        AssignerRow(
            name=a.name,
            since_last_cycle=(now - a.last_cycle_at) if a.last_cycle_at else None,
            last_cycle_seconds=a.last_cycle_seconds,
            cycles=a.cycles,
        )
        for a in assigners_live()
    ]


# --- routing (docs/engine.md, "Routing") ---

# The declined-by-everyone check looks at this many of the oldest pending tasks.
DECLINED_CHECK_TASKS = 5_000


@dataclass
class SkillRow:
    skill: str | None  # None: tasks anyone may take
    pending: int
    oldest_pending_age: timedelta | None
    # Somebody signed in has the skill (always, for tasks anyone may take).
    staffed: bool


@dataclass
class DeclinedRow:
    task_id: int
    description: str
    decliners: list[str]


@dataclass
class RoutingStats:
    by_priority: dict[int, int]  # pending tasks by their priority (as set, before aging)
    by_skill: list[SkillRow]
    unstaffed: list[str]  # skills with pending tasks and nobody signed in who has them
    declined_by_everyone: list[DeclinedRow]
    expired: int  # tasks expired since `since`


def routing_stats(*, now: datetime, since: datetime | None = None) -> RoutingStats:
    """The queue by priority and by skill, the skills nobody signed in has, and the tasks
    every signed-in person who could take them has declined. Reads the pending tasks
    through the routing indexes (`qc_tasks_relaxed`, `qc_tasks_route`), the signed-in
    people through `qc_personnel_stale`, and the exclusions of the oldest pending tasks by
    key."""
    pending = Task.objects.filter(status=TaskStatus.PENDING)
    by_priority = dict(pending.values_list("priority").annotate(n=Count("id")).order_by())
    signed_in = list(Person.objects.logged_in().values_list("id", "name", "skills"))
    covered = {skill for _, _, skills in signed_in for skill in skills or ()}
    by_skill = []
    for skill, n, oldest in (
        pending.values_list("skill").annotate(n=Count("id"), oldest=Min("created_at")).order_by()
    ):
        by_skill.append(
            SkillRow(
                skill=skill,
                pending=n,
                oldest_pending_age=(now - oldest) if oldest else None,
                staffed=skill is None or skill in covered,
            )
        )
    by_skill.sort(key=lambda row: (row.skill is not None, row.skill or ""))
    return RoutingStats(
        by_priority={p: by_priority.get(p, 0) for p in range(MAX_PRIORITY, -1, -1)},
        by_skill=by_skill,
        unstaffed=[row.skill for row in by_skill if not row.staffed and row.skill],
        declined_by_everyone=_declined_by_everyone(now=now, signed_in=signed_in),
        expired=0
        if since is None
        else Task.objects.filter(status=TaskStatus.EXPIRED, expires_at__gte=since).count(),
    )


def _declined_by_everyone(*, now: datetime, signed_in: list) -> list[DeclinedRow]:
    """Pending tasks declined by every signed-in person who may take them (and by at least
    one): nobody will be offered them until someone else signs in or a supervisor acts."""
    oldest = list(
        Task.objects.pending().values_list("id", "skill", "created_at")[:DECLINED_CHECK_TASKS]
    )
    declined: dict[int, set[int]] = {}
    for task_id, person_id in Exclusion.objects.filter(
        task_id__in=[t[0] for t in oldest], reason=ExclusionReason.DECLINED
    ).values_list("task_id", "person_id"):
        declined.setdefault(task_id, set()).add(person_id)
    if not declined:
        return []
    cutoff = routing.relax_cutoff(now)
    names = {person_id: name for person_id, name, _ in signed_in}
    found = []
    for task_id, skill, created_at in oldest:
        if task_id not in declined:
            continue
        able = {
            person_id
            for person_id, _, skills in signed_in
            if routing.may_take(
                skills or (), task_skill=skill, created_at=created_at, cutoff=cutoff
            )
        }
        if able and able <= declined[task_id]:
            found.append((task_id, sorted(names[p] for p in able)))
    descriptions = dict(
        Task.objects.filter(pk__in=[t for t, _ in found]).values_list("id", "description")
    )
    return [DeclinedRow(t, descriptions.get(t, ""), people) for t, people in found]


@dataclass
class HourlySeries:
    """The dashboard's charts: one value per hour (UTC hour starts, oldest first), the
    current hour last and still counting."""

    hours: list[datetime]
    created: list[int]
    completed: list[int]
    wait_p50: list[float | None]
    wait_p90: list[float | None]


# The charts' span: 7 days of hours and the current one (the 24-hour chart is its end).
CHART_HOURS = rollups.KEEP_HOURS
# Hours still missing from `qc_wait_hours` that one dashboard read computes (the assigner
# computes them as hours close; this is for a dashboard that opens first, or without an
# assigner). Each is one index range of at most rollups.HOUR_SAMPLE entries.
ROLLUP_ON_READ = 24


def hourly_series(*, now: datetime) -> HourlySeries:
    """Tasks created and completed, and the wait's p50 and p90, per hour over the last
    CHART_HOURS hours and the current one: the counts from the hourly counters (one GROUP
    BY over at most 2 × 16 × 169 rows), the closed hours' waits from `qc_wait_hours`
    (169 rows), the current hour's from its latest PERCENTILE_SAMPLE waits."""
    current = rollups.hour_floor(now)
    first = current - timedelta(hours=CHART_HOURS)
    hours = [first + timedelta(hours=n) for n in range(CHART_HOURS + 1)]
    counts = {
        (hour, name): int(total)
        for hour, name, total in Counter.objects.filter(
            hour__gte=first, name__in=[counters.CREATED, counters.COMPLETIONS]
        )
        .values_list("hour", "name")
        .annotate(total=Sum("value"))
        .order_by()
    }
    rollups.wait_hours_rollup(now=now, limit=ROLLUP_ON_READ)
    waits = {w.hour: w for w in WaitHour.objects.filter(hour__gte=first, hour__lt=current)}
    live = rollups.waits_between(current, None, limit=PERCENTILE_SAMPLE)
    p50 = [waits[h].p50 if h in waits else None for h in hours[:-1]]
    p90 = [waits[h].p90 if h in waits else None for h in hours[:-1]]
    return HourlySeries(
        hours=hours,
        created=[counts.get((h, counters.CREATED), 0) for h in hours],
        completed=[counts.get((h, counters.COMPLETIONS), 0) for h in hours],
        wait_p50=[*p50, rollups.percentile(live, 50)],
        wait_p90=[*p90, rollups.percentile(live, 90)],
    )


# --- outcomes (docs/engine.md, "Outcomes") ---

# The dashboard's most logged defect codes: this many.
TOP_DEFECTS = 5


def disputed_count() -> int:
    """Disputed tasks waiting for a supervisor's resolve (through `qc_tasks_queue`)."""
    return Task.objects.filter(status=TaskStatus.DISPUTED).count()


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class DefectRow:
    code: str
    description: str  # "" for a code no longer in the catalogue
    n: int


@dataclass
class ReviewerRow:
    id: int
    name: str
    reviews: int  # completions in the window, with a verdict or not
    verdicts: int  # of those, with a verdict
    fails: int
    # Their reviews (with a verdict) of tasks someone else reviewed too (with a verdict),
    # and of those, the ones where every other reviewer gave the same verdict.
    compared: int = 0
    agreed: int = 0

    @property
    def fail_rate(self) -> float | None:
        return _share(self.fails, self.verdicts)

    @property
    def agreement(self) -> float | None:
        return _share(self.agreed, self.compared)


@dataclass
class OutcomeStats:
    passed: int  # reviews with the verdict pass in the window
    failed: int
    top_defects: list[DefectRow]
    disputes_waiting: int  # now, whatever the window
    reviewers: list[ReviewerRow]

    @property
    def fail_rate(self) -> float | None:
        return _share(self.failed, self.passed + self.failed)


def outcome_stats(*, since: datetime) -> OutcomeStats:
    """The reviews since `since`: verdicts and the most logged defect codes (the counters'
    whole hours and the history of the first, partial hour, as `flow_stats`), the disputed
    tasks waiting now, and per reviewer their reviews, fail rate and agreement with the
    other reviews of the same tasks.

    Per reviewer, two GROUP BY queries over the window's completions (a range of
    `qc_assignments_handled`): their reviews and fails; and, of their reviews with a
    verdict, those of tasks with another review with a verdict (at any time) and those
    that no other review contradicts, each other review found by task
    (`qc_assignments_task`).
    """
    boundary = _next_hour(since)
    counts = counters.since(boundary)
    edge = Assignment.objects.filter(completed_at__gte=since, completed_at__lt=boundary)
    if boundary > since:
        for outcome, n in (
            edge.exclude(outcome="").values_list("outcome").annotate(n=Count("id")).order_by()
        ):
            counts[counters.reviews(outcome)] = counts.get(counters.reviews(outcome), 0) + n
        for codes in edge.filter(defects__isnull=False).values_list("defects", flat=True):
            for code in codes or ():
                counts[counters.defects(code)] = counts.get(counters.defects(code), 0) + 1
    prefix = counters.defects("")
    logged = sorted(
        (
            (name.removeprefix(prefix), n)
            for name, n in counts.items()
            if name.startswith(prefix) and n > 0
        ),
        key=lambda item: (-item[1], item[0]),
    )[:TOP_DEFECTS]
    descriptions = dict(
        DefectCode.objects.filter(code__in=[code for code, _n in logged]).values_list(
            "code", "description"
        )
    )
    return OutcomeStats(
        passed=counts.get(counters.reviews(Outcome.PASS), 0),
        failed=counts.get(counters.reviews(Outcome.FAIL), 0),
        top_defects=[DefectRow(code, descriptions.get(code, ""), n) for code, n in logged],
        disputes_waiting=disputed_count(),
        reviewers=reviewer_stats(since=since),
    )


def reviewer_stats(*, since: datetime) -> list[ReviewerRow]:
    """Per person who reviewed since `since`: see `outcome_stats`. By name."""
    done = Assignment.objects.filter(completed_at__gte=since)
    rows = {
        person_id: ReviewerRow(person_id, name, reviews, verdicts, fails)
        for person_id, name, reviews, verdicts, fails in done.values_list(
            "person_id", "person__name"
        )
        .annotate(
            reviews=Count("id"),
            verdicts=Count("id", filter=~Q(outcome="")),
            fails=Count("id", filter=Q(outcome=Outcome.FAIL)),
        )
        .order_by()
    }
    # Another review with a verdict of the same task, by someone else (a verdict means a
    # completed assignment: `qc_assignments_verdict_means_completed`).
    others = (
        Assignment.objects.filter(task_id=OuterRef("task_id"))
        .exclude(outcome="")
        .exclude(person_id=OuterRef("person_id"))
    )
    # Both in the select list, per review of the window (dependent subqueries through
    # `qc_assignments_task`): in the WHERE clause, the optimizer may turn the EXISTS into a
    # semi-join that scans the history.
    compared = (
        done.exclude(outcome="")
        .values_list("person_id")
        .annotate(
            compared=Count("id", filter=Exists(others)),
            agreed=Count(
                "id",
                filter=Exists(others) & ~Exists(others.exclude(outcome=OuterRef("outcome"))),
            ),
        )
        .order_by()
    )
    for person_id, n, agreed in compared:
        if person_id in rows:
            rows[person_id].compared, rows[person_id].agreed = n, agreed
    return sorted(rows.values(), key=lambda row: (row.name, row.id))


def task_reviews(task_id: int):
    """A task's reviews: the assignments that completed it, with their people, first
    first (through `qc_assignments_task`)."""
    return (
        Assignment.objects.filter(task_id=task_id, end_reason=EndReason.COMPLETED)
        .select_related("person")
        .order_by("completed_at", "id")
    )


@dataclass
class Dashboard:
    now: datetime
    window: str
    queue: QueueStats
    people: PeopleStats
    flow: FlowStats
    assigners: list[AssignerRow]
    charts: HourlySeries
    routing: RoutingStats | None = None
    outcomes: OutcomeStats | None = None


def dashboard_get(*, window: str = "hour") -> Dashboard:
    now = db_now()
    since = window_start(window, now=now)
    return Dashboard(
        now=now,
        window=window,
        queue=queue_stats(now=now),
        people=people_stats(now=now),
        flow=flow_stats(since=since),
        assigners=assigner_stats(now=now),
        charts=hourly_series(now=now),
        routing=routing_stats(now=now, since=since),
        outcomes=outcome_stats(since=since),
    )


# --- the registry of running assigners (written by tasks.assigner) ---


def last_seen():
    """When an assigner was last heard from: its last cycle, else its start."""
    return Coalesce("last_cycle_at", "started_at")


def _stale_cutoff():
    return Now() - Value(timedelta(seconds=settings.QC_ASSIGNER_STALE_AFTER))


def assigners_live():
    """Assigners seen within QC_ASSIGNER_STALE_AFTER, by name (the rows metrics show)."""
    return (
        AssignerInstance.objects.alias(seen=last_seen())
        .filter(seen__gte=_stale_cutoff())
        .order_by("name")
    )


def assigners_stale():
    """Assigners not seen for QC_ASSIGNER_STALE_AFTER: they died and never came back under
    their name (deleted when an assigner starts, and by `manage.py prune`)."""
    return AssignerInstance.objects.alias(seen=last_seen()).filter(seen__lt=_stale_cutoff())

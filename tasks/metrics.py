"""`/metrics` in Prometheus text format, read from the database at scrape time.

Every web worker and assigner writes its effects to the database, so reading the figures
there gives one consistent answer whichever worker serves the scrape; prometheus_client
does the exposition. Counters come from `qc_counters` (exact totals kept by the services in
the same transactions); gauges are the current state, read through indexes. The same
figures come from every web host: aggregate them with max() (deploy/prometheus/).

The assigners' series carry the label `assigner`, the stable name each runs under
(`run_assigner --name`); never `instance`, which Prometheus sets to the scrape target.

The one figure that is not in the database is the web's own: responses by status code
(`qc_http_responses_total`), counted by `ResponseCountMiddleware` in each process. Under
gunicorn, the workers write their counts to files in PROMETHEUS_MULTIPROC_DIR
(deploy/gunicorn.conf.py sets it up) and a scrape adds up every worker's, so any worker
gives the whole server's count.
"""

import ipaddress
import os
import secrets

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from qcproject.db import db_now

from . import counters, selectors
from .models import RELEASE_REASONS, AssignmentSource, Outcome

HTTP_RESPONSES = Counter(
    "qc_http_responses",
    "HTTP responses by status code (this web server's processes).",
    ["code"],
    registry=None,  # added to each scrape's registry, alone or through the worker files
)


class ResponseCountMiddleware:
    """Counts every response by status code, the errors the site answered with included
    (the error-rate alert). First in MIDDLEWARE, so that nothing answers around it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        HTTP_RESPONSES.labels(str(response.status_code)).inc()
        return response


class QCCollector:
    def collect(self):
        now = db_now()
        queue = selectors.queue_stats(now=now)
        yield GaugeMetricFamily("qc_queue_pending", "Tasks waiting.", value=queue.pending)
        yield GaugeMetricFamily(
            "qc_queue_in_progress", "Tasks in progress.", value=queue.in_progress
        )
        yield GaugeMetricFamily(
            "qc_queue_oldest_pending_age_seconds",
            "Age of the oldest pending task (0 when none waits).",
            value=queue.oldest_pending_age.total_seconds() if queue.oldest_pending_age else 0,
        )
        people = selectors.people_counts()
        family = GaugeMetricFamily("qc_people", "QC personnel by state.", labels=["state"])
        for state in ("working", "idle", "signed_out"):
            family.add_metric([state], people[state])
        yield family

        totals = counters.totals()
        yield CounterMetricFamily(
            "qc_tasks_created", "Tasks created.", value=totals.get(counters.CREATED, 0)
        )
        family = CounterMetricFamily(
            "qc_assignments", "Tasks given to people, by how.", labels=["source"]
        )
        for source in AssignmentSource.values:
            family.add_metric([source], totals.get(counters.assignments(source), 0))
        yield family
        yield CounterMetricFamily(
            "qc_completions", "Tasks completed.", value=totals.get(counters.COMPLETIONS, 0)
        )
        family = CounterMetricFamily(
            "qc_releases", "Assignments ended without completion, by reason.", labels=["reason"]
        )
        for reason in RELEASE_REASONS:
            family.add_metric([reason], totals.get(counters.releases(reason), 0))
        yield family

        yield from routing_families(now=now, totals=totals)
        yield from outcome_families(totals=totals)

        # Per assigner, by its stable name; one that stopped cleanly is gone, one that died
        # shows its last cycle growing old until QC_ASSIGNER_STALE_AFTER.
        duration = GaugeMetricFamily(
            "qc_assigner_cycle_duration_seconds",
            "How long the assigner's last cycle took.",
            labels=["assigner"],
        )
        last = GaugeMetricFamily(
            "qc_assigner_last_success_timestamp_seconds",
            "When the assigner last finished a cycle (Unix time).",
            labels=["assigner"],
        )
        started = GaugeMetricFamily(
            "qc_assigner_start_time_seconds",
            "When the assigner process now running under this name started (Unix time).",
            labels=["assigner"],
        )
        cycles = CounterMetricFamily(
            "qc_assigner_cycles", "Cycles the assigner finished.", labels=["assigner"]
        )
        for instance in selectors.assigners_live():
            duration.add_metric([instance.name], instance.last_cycle_seconds)
            # Not yet cycled: its start, so that "time since the last cycle" is defined.
            last_at = instance.last_cycle_at or instance.started_at
            last.add_metric([instance.name], last_at.timestamp())
            started.add_metric([instance.name], instance.started_at.timestamp())
            cycles.add_metric([instance.name], instance.cycles)
        yield duration
        yield last
        yield started
        yield cycles


def routing_families(*, now, totals: dict):
    """The queue by priority and by skill, the skills nobody signed in has, the tasks
    everyone able has declined, and expired tasks (docs/engine.md, "Routing"). The skill
    label of tasks anyone may take is empty."""
    stats = selectors.routing_stats(now=now)
    family = GaugeMetricFamily(
        "qc_queue_pending_by_priority",
        "Tasks waiting, by priority (as set, before aging).",
        labels=["priority"],
    )
    for priority, n in sorted(stats.by_priority.items()):
        family.add_metric([str(priority)], n)
    yield family
    pending = GaugeMetricFamily(
        "qc_queue_pending_by_skill", "Tasks waiting, by the skill they need.", labels=["skill"]
    )
    oldest = GaugeMetricFamily(
        "qc_queue_oldest_pending_age_by_skill_seconds",
        "Age of the oldest task waiting, by the skill it needs.",
        labels=["skill"],
    )
    for row in stats.by_skill:
        pending.add_metric([row.skill or ""], row.pending)
        age = row.oldest_pending_age
        oldest.add_metric([row.skill or ""], age.total_seconds() if age else 0)
    yield pending
    yield oldest
    family = GaugeMetricFamily(
        "qc_skill_unstaffed",
        "1 for each skill that tasks wait for while nobody signed in has it.",
        labels=["skill"],
    )
    for skill in stats.unstaffed:
        family.add_metric([skill], 1)
    yield family
    yield GaugeMetricFamily(
        "qc_tasks_declined_by_everyone",
        "Tasks waiting that every signed-in person who may take them has declined.",
        value=len(stats.declined_by_everyone),
    )
    yield CounterMetricFamily(
        "qc_tasks_expired",
        "Tasks expired before anyone took them.",
        value=totals.get(counters.EXPIRED, 0),
    )


def outcome_families(*, totals: dict):
    """Reviews by verdict, tasks by final outcome, disputes (counted, and waiting now),
    defect codes logged, and tasks sampled for an audit review (docs/engine.md,
    "Outcomes")."""
    family = CounterMetricFamily(
        "qc_reviews",
        "Reviews given, by verdict (reviews without one are not counted).",
        labels=["outcome"],
    )
    for outcome in Outcome.values:
        family.add_metric([outcome], totals.get(counters.reviews(outcome), 0))
    yield family
    family = CounterMetricFamily(
        "qc_task_outcomes",
        "Tasks completed, by final outcome (none: no review gave a verdict; a resolved "
        "dispute counts with the supervisor's).",
        labels=["outcome"],
    )
    for outcome in (*Outcome.values, ""):
        family.add_metric([outcome or "none"], totals.get(counters.outcomes(outcome), 0))
    yield family
    yield CounterMetricFamily(
        "qc_disputes",
        "Tasks whose reviews disagreed (a pass and a fail).",
        value=totals.get(counters.DISPUTES, 0),
    )
    yield GaugeMetricFamily(
        "qc_disputed_tasks",
        "Disputed tasks waiting for a supervisor to resolve them.",
        value=selectors.disputed_count(),
    )
    prefix = counters.defects("")
    family = CounterMetricFamily(
        "qc_defects", "Defect codes logged in reviews, by code.", labels=["code"]
    )
    for name, n in sorted(totals.items()):
        if name.startswith(prefix):
            family.add_metric([name.removeprefix(prefix)], n)
    yield family
    yield CounterMetricFamily(
        "qc_reviews_sampled",
        "Tasks chosen at random for a blind second review (QC_REVIEW_SAMPLE_RATE).",
        value=totals.get(counters.SAMPLED, 0),
    )


def metrics_allowed(request) -> bool:
    """A bearer token (QC_METRICS_TOKEN), else an allowed client address, else a supervisor."""
    token = settings.QC_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        # Bytes, not text: `compare_digest` refuses non-ASCII str. A header reaches Django
        # as the latin-1 reading of the bytes sent (PEP 3333); encoding it back gives them.
        sent = header.removeprefix("Bearer ").strip().encode("latin-1", "replace")
        return secrets.compare_digest(sent, token.encode())
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        client = None
    if client is not None and any(
        client in ipaddress.ip_network(net, strict=False)
        for net in settings.QC_METRICS_ALLOWED_NETWORKS
    ):
        return True
    return request.user.is_authenticated and request.user.has_perm("tasks.view_dashboard")


@never_cache
@require_safe
def metrics(request):
    if not metrics_allowed(request):
        return HttpResponseForbidden(
            "Metrics are for monitoring: send the QC_METRICS_TOKEN bearer token.\n",
            content_type="text/plain",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QCCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(HTTP_RESPONSES)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

"""/metrics as Prometheus users rely on it, and the alert rules and Grafana dashboard in
deploy/ that read it."""

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tasks.assigner import assigner_claim, assigner_report
from tasks.metrics import HTTP_RESPONSES
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Series Prometheus makes itself, not the app.
PROMETHEUS_OWN = {"up"}


@pytest.fixture
def scrape(client, settings, alice):
    settings.QC_METRICS_TOKEN = "s3cret"
    task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    assigner_claim(name="a1")
    assigner_report(name="a1", seconds=0.1, assigned=1, released=0)

    def get() -> str:
        r = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
        assert r.status_code == 200
        return r.content.decode()

    return get


def exported_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
    return names


def metric_names_in(expr: str) -> set[str]:
    return {name for name in re.findall(r"\b[a-z_:][a-z0-9_:]*\b", expr) if name.startswith("qc_")}


def test_no_series_uses_the_instance_label(scrape):
    for family in text_string_to_metric_families(scrape()):
        for sample in family.samples:
            assert "instance" not in sample.labels, sample
            assert "exported_instance" not in sample.labels, sample


def test_responses_are_counted_by_status_code(scrape, client):
    before = HTTP_RESPONSES.labels("404")._value.get()
    client.get("/no-such-page")
    assert HTTP_RESPONSES.labels("404")._value.get() == before + 1
    assert 'qc_http_responses_total{code="404"}' in scrape()


def test_grafana_dashboard_is_valid_and_reads_only_exported_metrics(scrape):
    exported = exported_names(scrape())
    dashboard = json.loads((DEPLOY / "grafana" / "qc-assign.json").read_text())
    assert dashboard["title"] == "qc-assign" and dashboard["uid"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 10
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names_in(target["expr"])
            assert names or "up{" in target["expr"], (panel["title"], target["expr"])
            assert names <= exported, (panel["title"], names - exported)
            assert "instance=" not in target["expr"]


def test_alert_rules_read_only_exported_metrics(scrape):
    import yaml

    exported = exported_names(scrape())
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule["expr"] for g in rules["groups"] for rule in g["rules"]}
    assert set(alerts) >= {
        "QCScrapeDown",
        "QCAssignerDown",
        "QCNoAssignerRunning",
        "QCOldestPendingTooOld",
        "QCQueueGrowing",
        "QCNobodySignedInWithWorkWaiting",
        "QCHighErrorRate",
        "QCDisputesWaiting",
    }
    for name, expr in alerts.items():
        assert metric_names_in(expr) <= exported, (name, metric_names_in(expr) - exported)
        assert metric_names_in(expr) or set(re.findall(r"\bup\b", expr)) <= PROMETHEUS_OWN


def test_alert_rules_pass_promtool_checks_and_their_unit_tests():
    """`make lint` runs the same; here too, so that CI (make test) checks the rules."""
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's prometheus package (make test does).")
    directory = DEPLOY / "prometheus"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run(
            [promtool, *args], cwd=directory, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


def held(person) -> int:
    from tasks.models import Task

    return Task.objects.get(in_progress_person=person.pk).pk


def test_outcomes_are_counted_by_verdict_outcome_and_defect(
    scrape, alice, bob, supervisor, django_capture_on_commit_callbacks
):
    from tasks.interventions import task_resolve
    from tasks.models import DefectCode
    from tasks.services import NewTask, task_complete

    DefectCode.objects.create(code="SCRATCH", description="A scratch")
    DefectCode.objects.create(code="DENT", description="A dent")
    task_complete(task_id=held(alice), person_id=alice.pk, outcome="pass", defects=["SCRATCH"])
    task_complete(task_id=held(alice), person_id=alice.pk)  # no verdict
    with django_capture_on_commit_callbacks(execute=True):  # offered to Alice, free
        (twice,) = task_create(tasks=[NewTask(description="twice", reviews_required=2)])
    task_complete(task_id=twice.pk, person_id=alice.pk, outcome="pass")
    person_login(person_id=bob.pk)
    task_complete(task_id=twice.pk, person_id=bob.pk, outcome="fail", defects=["SCRATCH", "DENT"])
    text = scrape()
    expected = [
        "# HELP qc_reviews_total Reviews given, by verdict",
        "# TYPE qc_reviews_total counter",
        'qc_reviews_total{outcome="pass"} 2.0',
        'qc_reviews_total{outcome="fail"} 1.0',
        "# TYPE qc_task_outcomes_total counter",
        'qc_task_outcomes_total{outcome="pass"} 1.0',
        'qc_task_outcomes_total{outcome="fail"} 0.0',
        'qc_task_outcomes_total{outcome="none"} 1.0',
        "# TYPE qc_disputes_total counter",
        "qc_disputes_total 1.0",
        "# TYPE qc_disputed_tasks gauge",
        "qc_disputed_tasks 1.0",
        "# TYPE qc_defects_total counter",
        'qc_defects_total{code="DENT"} 1.0',
        'qc_defects_total{code="SCRATCH"} 2.0',
        "# TYPE qc_reviews_sampled_total counter",
        "qc_reviews_sampled_total 0.0",
    ]
    for line in expected:
        assert line in text, line
    task_resolve(actor=supervisor, task_id=twice.pk, outcome="fail", note="Dented")
    text = scrape()
    assert 'qc_task_outcomes_total{outcome="fail"} 1.0' in text
    assert "qc_disputed_tasks 0.0" in text and "qc_disputes_total 1.0" in text


def test_sampled_reviews_are_counted(scrape, alice, settings):
    from tasks.services import task_complete

    settings.QC_REVIEW_SAMPLE_RATE = 1.0
    task_complete(task_id=held(alice), person_id=alice.pk, outcome="pass")
    assert "qc_reviews_sampled_total 1.0" in scrape()

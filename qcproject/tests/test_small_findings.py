"""The small findings of issue 12: non-ASCII digits in URLs, the metrics bearer token
compared as bytes, and a health check that tells nothing about the database."""

import logging

import pytest
from django.db import OperationalError

from personnel.models import Person
from tasks.models import Task
from tasks.services import task_create

pytestmark = pytest.mark.django_db

FULLWIDTH_ONE = "%EF%BC%91"  # "１", which `\d` matches and int() reads as 1


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/personnel/{digit}"),
        ("post", "/personnel/{digit}/heartbeat"),
        ("post", "/personnel/{digit}/logout"),
        ("post", "/personnel/{digit}/sign-out"),
        ("get", "/tasks/{digit}"),
        ("post", "/tasks/{digit}/complete"),
        ("post", "/tasks/{digit}/release"),
    ],
)
def test_non_ascii_digits_name_no_object(api, supervisor, make_person, method, path):
    """REGRESSION: URL patterns used `\\d`, so `/personnel/%EF%BC%91` was person 1."""
    person = make_person("Someone")
    (task,) = task_create(descriptions=["one"])
    # Ids depend on the run; the digit in the URL is "1", so person 1 and task 1 exist.
    Person.objects.filter(pk=person.pk).update(id=1)
    Task.objects.filter(pk=task.pk).update(id=1)
    api.force_authenticate(supervisor)
    assert api.get("/personnel/1").status_code == 200
    response = getattr(api, method)(path.format(digit=FULLWIDTH_ONE))
    assert response.status_code == 404


def test_url_patterns_use_ascii_digits_only():
    from django.urls import URLPattern, URLResolver, get_resolver

    def patterns(resolver):
        for p in resolver.url_patterns:
            if isinstance(p, URLResolver):
                yield from patterns(p)
            elif isinstance(p, URLPattern):
                yield str(p.pattern)

    offending = [p for p in patterns(get_resolver()) if "\\d" in p]
    assert offending == []


@pytest.mark.parametrize("header", ["Bearer \u00e9t\u00e9", "Bearer \u2603", "Bearer caf\xe9"])
def test_metrics_with_a_non_ascii_bearer_token_is_refused_not_a_500(client, settings, header):
    """REGRESSION: `compare_digest` on two str raises TypeError for non-ASCII text: 500."""
    settings.QC_METRICS_TOKEN = "scrape-secret"
    response = client.get("/metrics", HTTP_AUTHORIZATION=header)
    assert response.status_code == 403


def test_metrics_with_a_non_ascii_configured_token_compares_the_bytes_sent(client, settings):
    """A WSGI server hands header bytes over as latin-1 text (PEP 3333): the token a scraper
    sends in UTF-8 arrives as the latin-1 reading of those bytes."""
    settings.QC_METRICS_TOKEN = "s\u00e9cret"
    sent = "Bearer " + "s\u00e9cret".encode().decode("latin-1")
    assert client.get("/metrics", HTTP_AUTHORIZATION=sent).status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer secret").status_code == 403


def test_healthz_tells_nothing_about_the_database_and_logs_the_error(client, monkeypatch, caplog):
    """REGRESSION: the 503 body carried the driver's error text (host, user)."""
    from django.db import connection

    detail = "Access denied for user 'qcassign'@'10.1.2.3' (using password: YES)"

    def broken():
        raise OperationalError(1045, detail)

    monkeypatch.setattr(connection, "cursor", broken)
    with caplog.at_level(logging.ERROR):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert b"qcassign" not in response.content and b"10.1.2.3" not in response.content
    assert any(
        detail in record.getMessage() or detail in str(record.exc_info) for record in caplog.records
    )

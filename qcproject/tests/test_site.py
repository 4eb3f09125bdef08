import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_healthz_is_200_when_database_answers(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_healthz_is_503_when_database_is_down(client, monkeypatch):
    from django.db import connection

    def broken():
        raise OperationalError(2003, "Can't connect to MySQL server")

    monkeypatch.setattr(connection, "cursor", broken)
    r = client.get("/healthz")
    assert r.status_code == 503


def test_openapi_schema_documents_the_seed_paths(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    paths = set(r.json()["paths"])
    assert {
        "/personnel",
        "/personnel/{id}",
        "/personnel/login",
        "/personnel/{id}/logout",
        "/personnel/{id}/heartbeat",
        "/personnel/status",
        "/tasks",
        "/tasks/{id}/complete",
        "/tasks/queue",
        "/auth/token",
    } <= paths


def test_api_docs_page_is_served_without_a_cdn(client):
    r = client.get("/api/docs/")
    assert r.status_code == 200
    assert b"cdn.jsdelivr" not in r.content and b"unpkg" not in r.content


def test_browsable_api_renders_for_a_browser(client, supervisor):
    client.force_login(supervisor)
    r = client.get("/tasks/queue", HTTP_ACCEPT="text/html")
    assert r.status_code == 200 and b"<html" in r.content

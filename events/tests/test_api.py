"""GET /events: who may read, paging with `after`, the types filter, bad parameters."""

import pytest
from django.contrib.auth import get_user_model

from events.models import Event, EventType
from events.roles import make_integration
from tasks.services import task_complete, task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(db):
    return make_integration(
        get_user_model().objects.create_user("mes", password="correct-horse-battery")
    )


@pytest.fixture
def history(alice):
    """Two tasks created, one assigned to alice and completed, the other then assigned."""
    first, second = task_create(descriptions=["a", "b"])
    person_login(person_id=alice.pk)
    task_complete(task_id=first.pk, person_id=alice.pk)
    return first, second


def test_a_supervisor_reads_every_event_oldest_first(api, supervisor, history, alice):
    first, second = history
    api.force_authenticate(supervisor)
    response = api.get("/events")
    assert response.status_code == 200
    body = response.json()
    assert [(e["type"], e["data"].get("task_id")) for e in body["results"]] == [
        (EventType.TASK_CREATED, first.pk),
        (EventType.TASK_CREATED, second.pk),
        (EventType.PERSON_SIGNED_IN, None),
        (EventType.TASK_ASSIGNED, first.pk),
        (EventType.TASK_COMPLETED, first.pk),
        (EventType.TASK_ASSIGNED, second.pk),
    ]
    ids = [e["id"] for e in body["results"]]
    assert ids == sorted(ids)
    assert body["has_more"] is False
    assert body["last_id"] == ids[-1]
    assert body["next"].endswith(f"/events?after={ids[-1]}&limit=100")
    completed = body["results"][4]
    assert completed["data"] == {
        "task_id": first.pk,
        "external_id": None,
        "person_id": alice.pk,
    }
    assert completed["timestamp"].endswith("Z")


def test_paging_with_after_gets_each_event_once(api, supervisor, history):
    api.force_authenticate(supervisor)
    seen, after = [], 0
    while True:
        body = api.get(f"/events?after={after}&limit=4").json()
        seen += [e["id"] for e in body["results"]]
        after = body["last_id"]
        if not body["has_more"]:
            break
    assert seen == list(Event.objects.order_by("seq").values_list("seq", flat=True))
    assert api.get(f"/events?after={after}").json()["results"] == []


def test_next_follows_on(api, supervisor, history):
    api.force_authenticate(supervisor)
    first = api.get("/events?limit=2&types=task.created,task.completed").json()
    assert first["has_more"] is True
    following = api.get(first["next"]).json()
    assert [e["type"] for e in following["results"]] == [EventType.TASK_COMPLETED]
    assert following["results"][0]["id"] > first["last_id"]


def test_types_filter_events(api, supervisor, history):
    api.force_authenticate(supervisor)
    body = api.get("/events?types=task.assigned").json()
    assert {e["type"] for e in body["results"]} == {EventType.TASK_ASSIGNED}
    assert {e["data"]["path"] for e in body["results"]} == {"sign_in", "complete"}


@pytest.mark.parametrize(
    "query",
    [
        "after=-1",
        "after=x",
        "after=99999999999999999999999",
        "limit=0",
        "limit=1001",
        "types=task.exploded",
        "types=task.created,nope",
    ],
)
def test_bad_parameters_are_a_400(api, supervisor, query):
    api.force_authenticate(supervisor)
    response = api.get(f"/events?{query}")
    assert response.status_code == 400
    assert response.json()


def test_an_integration_account_reads_events_and_nothing_else(api, integration, history, alice):
    api.force_authenticate(integration)
    assert api.get("/events").status_code == 200
    assert api.get("/tasks/queue").status_code == 403
    assert api.get("/personnel").status_code == 403
    assert api.get(f"/tasks/{history[0].pk}").status_code == 403
    assert api.post("/personnel/login", {"person_id": alice.pk}, format="json").status_code == 403
    assert api.post("/tasks", {"description": "x"}, format="json").status_code == 403


def test_an_integration_account_signs_in_with_a_token(client, integration, history):
    token = client.post(
        "/auth/token",
        {"username": "mes", "password": "correct-horse-battery"},
        content_type="application/json",
    ).json()["token"]
    response = client.get("/events", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 6


def test_an_integration_account_cannot_open_the_admin(client, integration):
    client.force_login(integration)
    assert client.get("/admin/").status_code == 302


def test_qc_people_and_strangers_may_not_read_events(api, alice, history):
    assert api.get("/events").status_code == 401
    api.force_authenticate(alice.user)
    assert api.get("/events").status_code == 403


def test_the_schema_documents_events(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/events"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"after", "types", "limit"}
    assert "200" in operation["responses"]

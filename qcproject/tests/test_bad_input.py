"""Oversized and malformed request bodies: each gets a 4xx with a JSON error, and nothing is
half-written (the engine's tables are byte-for-byte as before).

Tests marked REGRESSION guard against faults this suite found (docs/reliability.md, "What
the suite found").
"""

import json

import pytest
from django.test import override_settings

from qcproject.middleware import json_depth
from tasks.models import Task
from tasks.services import task_create
from tasks.sessions import person_login
from tasks.tests.invariants import count_rows

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
OVERFLOW = 2**63  # one past the largest id MySQL's BIGINT holds
HUGE = 10**30


@pytest.fixture
def world(make_person, supervisor):
    me = make_person("Me")
    (task,) = task_create(descriptions=["mine"])
    task_create(descriptions=["waiting"])
    person_login(person_id=me.pk)
    return {"me": me, "task": task, "supervisor": supervisor}


def send(api, user, path, raw, content_type="application/json"):
    api.force_authenticate(user)
    body = raw.encode() if isinstance(raw, str) else raw
    return api.generic("POST", path, body, content_type=content_type)


def assert_refused(response, *codes):
    assert response.status_code in codes, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]


# --- malformed, wrong types, overflowing ids: refused today -----------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "NaN",
        '{"description": NaN}',
        "null",
        "3",
        '"a task"',
        "[]",
        "[1]",
        "[null]",
        json.dumps({"description": 5}),
        json.dumps({"description": None}),
        json.dumps({"description": ["a"]}),
        json.dumps({"description": {"a": 1}}),
        json.dumps({"description": ""}),
        json.dumps({"description": "   "}),
        json.dumps({"description": "a\x00b"}),
        json.dumps({"description": "\ud800"}),
        json.dumps({"description": "x" * 10_001}),
        json.dumps({}),
        # One bad item refuses the whole bulk: none of the good ones is written.
        json.dumps([{"description": "good"}, {"description": ""}]),
        json.dumps([{"description": "good"}, {"description": "x" * 10_001}]),
        json.dumps([{"description": "good"}, 7]),
    ],
    ids=lambda raw: raw[:30],
)
def test_malformed_task_bodies_are_refused_whole(api, world, raw):
    before = count_rows()
    assert_refused(send(api, world["supervisor"], "/tasks", raw), 400)
    assert count_rows() == before


def test_invalid_utf8_is_refused(api, world):
    before = count_rows()
    raw = b'{"description": "\xff\xfe"}'
    assert_refused(send(api, world["supervisor"], "/tasks", raw), 400)
    assert count_rows() == before


def test_too_many_tasks_at_once_are_refused_whole(api, world, settings):
    settings.QC_MAX_BULK_TASKS = 5
    before = count_rows()
    raw = json.dumps([{"description": f"t{i}"} for i in range(6)])
    assert_refused(send(api, world["supervisor"], "/tasks", raw), 400)
    assert count_rows() == before


@pytest.mark.parametrize(
    "body",
    [
        {"person_id": OVERFLOW},
        {"person_id": HUGE},
        {"person_id": -1},
        {"person_id": 0},
        {"person_id": 1.5},
        {"person_id": "1e400"},
        {"person_id": "one"},
        {"person_id": True},
        {"person_id": [1]},
        {"person_id": {"id": 1}},
    ],
    ids=str,
)
def test_malformed_sign_in_is_refused(api, world, body):
    before = count_rows()
    assert_refused(send(api, world["supervisor"], "/personnel/login", json.dumps(body)), 400)
    assert count_rows() == before


@pytest.mark.parametrize(
    "path",
    [
        f"/tasks/{OVERFLOW}/complete",
        f"/tasks/{HUGE}/complete",
        f"/personnel/{OVERFLOW}/heartbeat",
        f"/personnel/{HUGE}/logout",
        f"/personnel/{HUGE}",
    ],
)
def test_ids_that_overflow_are_not_found(api, world, path):
    before = count_rows()
    api.force_authenticate(world["supervisor"])
    method = api.get if path.count("/") == 2 else api.post
    assert_refused(method(path), 404)
    assert count_rows() == before


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a" * 256, "username": "long-name", "password": "correct-horse-battery"},
        {"name": "ok", "username": "u" * 151, "password": "correct-horse-battery"},
        {"name": "ok", "username": "nul\x00", "password": "correct-horse-battery"},
        {"name": "nul\x00", "username": "nul-name", "password": "correct-horse-battery"},
        {"name": "ok", "username": "pw", "password": "p" * 129},
        {"name": 5, "username": ["x"], "password": None},
    ],
    ids=lambda b: str(b)[:40],
)
def test_malformed_person_bodies_write_nothing(api, world, body, django_user_model):
    users = django_user_model.objects.count()
    before = count_rows()
    assert_refused(send(api, world["supervisor"], "/personnel", json.dumps(body)), 400)
    assert count_rows() == before
    assert django_user_model.objects.count() == users


def test_a_query_page_out_of_range_is_not_found(api, world):
    api.force_authenticate(world["supervisor"])
    for query in (f"page={HUGE}", "page=0", "page=abc"):
        assert_refused(api.get(f"/tasks/queue?{query}"), 404)
    # An unusable page size falls back to the default rather than failing.
    assert api.get(f"/tasks/queue?page_size={HUGE}").status_code == 200
    assert api.get("/tasks/queue?page_size=-1").status_code == 200


# --- REGRESSION: found by this suite ----------------------------------------------------------


@pytest.mark.parametrize(
    "path, who",
    [
        ("/tasks", "supervisor"),
        ("/personnel/login", "me"),
        ("/personnel", "supervisor"),
        ("/auth/token", None),
    ],
)
def test_deeply_nested_json_is_a_400_not_a_500(api, world, path, who):
    """REGRESSION: 5000 nested `[` (a 10 kB body) made Python's JSON decoder raise
    RecursionError inside DRF's parser: 500, on every JSON endpoint, anonymous
    `POST /auth/token` included.
    """
    user = world[who] if who == "supervisor" else (world["me"].user if who else None)
    before = count_rows()
    api.force_authenticate(user)
    response = api.generic("POST", path, DEEP.encode(), content_type="application/json")
    assert_refused(response, 400)
    assert count_rows() == before


def test_oversized_json_body_is_a_413(api, world):
    """REGRESSION: a JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE got Django's HTML
    "Bad Request (400)" page from deep inside request parsing, not the API's JSON error.
    """
    before = count_rows()
    raw = json.dumps([{"description": "y" * 1000}] * 30)
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000):
        response = send(api, world["supervisor"], "/tasks", raw)
    assert_refused(response, 413)
    assert response.json()["code"] == "too_large"
    assert count_rows() == before


@pytest.mark.parametrize(
    "path, body",
    [
        ("/tasks", {"description": "x", "status": "COMPLETED"}),
        ("/tasks", {"description": "x", "assigned_to_id": 1}),
        # (`priority` was the example of an unknown field before tasks had priorities.)
        ("/tasks", [{"description": "x"}, {"description": "y", "urgent": True}]),
        ("/personnel/login", {"person_id": "{me}", "force": True}),
    ],
    ids=["status", "assigned_to_id", "bulk-unknown", "login-force"],
)
def test_unknown_fields_are_refused(api, world, path, body):
    """REGRESSION: unknown and read-only fields were silently ignored, so a client that
    sent `"status": "COMPLETED"` got 201 and a PENDING task.
    """
    raw = json.dumps(body).replace('"{me}"', str(world["me"].pk))
    before = count_rows()
    response = send(api, world["supervisor"], path, raw)
    assert_refused(response, 400)
    assert count_rows() == before
    assert Task.objects.count() == 2


# --- the guard on its own ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, depth",
    [
        (b"", 0),
        (b'{"a": 1}', 1),
        (b'[{"description": "x"}, {"description": "y"}]', 2),
        (b'{"description": "[[[[[[[[[[ not nesting {{{{"}', 1),
        (b'{"description": "quote \\" then [[[["}', 1),
        (b"[[[[", 4),
        (DEEP.encode(), 5000),
    ],
)
def test_json_depth(raw, depth):
    assert json_depth(raw) == depth


# --- the hot endpoints, as QC clients call them (a real token, no forced authentication) ---


@pytest.mark.parametrize(
    "raw, content_type",
    [
        ('{"person_id": null}', "application/json"),
        ("\ufeff{}", "application/json"),  # a byte-order mark before the JSON
        ('{"person_id": 1', "application/json"),
    ],
    ids=["null", "bom", "truncated"],
)
def test_odd_sign_in_bodies_with_a_token_are_refused(client, world, raw, content_type):
    from personnel.services import token_issue

    key = token_issue(user=world["me"].user).token
    before = count_rows()
    response = client.generic(
        "POST",
        "/personnel/login",
        raw.encode(),
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert_refused(response, 400)
    assert count_rows() == before


@pytest.mark.parametrize("separator", ["\u00a0", "\t\u00a0", "\u2003"])
@pytest.mark.parametrize("path", ["/personnel/{me}/heartbeat", "/personnel/login"])
def test_a_token_after_an_odd_space_is_not_accepted(client, world, separator, path):
    from personnel.services import token_issue

    key = token_issue(user=world["me"].user).token
    response = client.post(
        path.format(me=world["me"].pk),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token{separator}{key}".encode().decode("latin-1"),
    )
    assert_refused(response, 401)

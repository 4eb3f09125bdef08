"""The lean path of heartbeats and sign-ins (personnel/fastpath.py) against the API's own
view: the common case is answered lean with the same answer the DRF view gives; every
other request is handed to the DRF view, untouched."""

import json

import pytest
from django.db import OperationalError
from django.test import Client
from rest_framework.authtoken.models import Token

from personnel.services import person_login, person_logout
from qcproject.testing import age_heartbeat, make_tasks
from qcproject.urls import api_views, urlpatterns

pytestmark = pytest.mark.django_db

LEAN = {
    "heartbeat": next(p.callback for p in urlpatterns if "heartbeat" in str(p.pattern)),
    "login": next(p.callback for p in urlpatterns if "login" in str(p.pattern)),
}


@pytest.fixture
def general(monkeypatch):
    """Which requests the lean paths handed to the DRF view (still answered by it)."""
    handed = []
    for name, view in LEAN.items():

        def spy(request, *args, _original=view.general_view, _name=name, **kwargs):
            handed.append(_name)
            return _original(request, *args, **kwargs)

        monkeypatch.setattr(view, "general_view", spy)
    return handed


def token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def post(path, *, key=None, body=None, raw=None, content_type="application/json", **extra):
    if key is not None:
        extra["HTTP_AUTHORIZATION"] = f"Token {key}"
    data = raw if raw is not None else ("" if body is None else json.dumps(body))
    return Client().post(path, data, content_type=content_type, **extra)


def comparable(response) -> tuple:
    """Status, body (heartbeat timestamps left out) and the headers DRF sets."""
    body = json.loads(response.content)
    if isinstance(body, dict):
        body.pop("last_heartbeat", None)
    headers = {h: response.headers.get(h) for h in ("Content-Type", "Allow", "Vary")}
    return response.status_code, body, headers


def drf(name, path, *, key, body=None, **kwargs):
    """The same request, straight to the DRF view (no lean path)."""
    from django.test import RequestFactory

    data = "" if body is None else json.dumps(body)
    request = RequestFactory().post(
        path, data, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
    )
    response = api_views[f"personnel-{name}"](request, **kwargs)
    response.render()
    return response


# --- heartbeat ---


def test_heartbeat_of_a_live_session_is_lean_and_answers_as_the_api_view(
    alice, general, django_assert_num_queries
):
    make_tasks("the task")
    person_login(person_id=alice.pk)
    key = token(alice.user)

    with django_assert_num_queries(2):  # the checked refresh, and the answer
        lean = post(f"/personnel/{alice.pk}/heartbeat", key=key)

    assert general == []
    assert lean.json()["current_task"]["description"] == "the task"
    assert comparable(lean) == comparable(
        drf("heartbeat", f"/personnel/{alice.pk}/heartbeat", key=key, pk=str(alice.pk))
    )


@pytest.mark.parametrize(
    "case, status, code",
    [
        ("stale", 409, "session_expired"),
        ("signed out", 409, "no_session"),
        ("someone else's id", 403, "permission_denied"),
        ("unknown id", 404, "not_found"),
        ("inactive user", 401, "authentication_failed"),
        ("bad token", 401, "authentication_failed"),
    ],
)
def test_heartbeat_that_is_not_the_common_case_goes_to_the_api_view(
    alice, bob, general, case, status, code
):
    person_login(person_id=alice.pk)
    person_login(person_id=bob.pk)
    key, person_id = token(alice.user), alice.pk
    if case == "stale":
        age_heartbeat(alice, 3600)
    elif case == "signed out":
        person_logout(person_id=alice.pk)
    elif case == "someone else's id":
        person_id = bob.pk
    elif case == "unknown id":
        person_id = 987_654_321
    elif case == "inactive user":
        type(alice.user).objects.filter(pk=alice.user.pk).update(is_active=False)
    elif case == "bad token":
        key = "0" * 40

    response = post(f"/personnel/{person_id}/heartbeat", key=key)

    assert general == ["heartbeat"]
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_heartbeat_by_a_supervisor_goes_to_the_api_view(alice, supervisor, general):
    person_login(person_id=alice.pk)

    response = post(f"/personnel/{alice.pk}/heartbeat", key=token(supervisor))

    assert (response.status_code, general) == (200, ["heartbeat"])


@pytest.mark.parametrize(
    "extra, status",
    [
        ({"HTTP_ACCEPT": "text/html"}, 200),  # the browsable API
        ({"QUERY_STRING": "format=api"}, 200),
        ({"HTTP_AUTHORIZATION": "Bearer x"}, 401),
        ({"HTTP_AUTHORIZATION": "Token a b"}, 401),
        ({"HTTP_AUTHORIZATION": "Token"}, 401),
    ],
)
def test_heartbeat_asking_anything_unusual_goes_to_the_api_view(alice, general, extra, status):
    person_login(person_id=alice.pk)
    extra.setdefault("HTTP_AUTHORIZATION", f"Token {token(alice.user)}")

    response = post(f"/personnel/{alice.pk}/heartbeat", **extra)

    assert (response.status_code, general) == (status, ["heartbeat"])


def test_heartbeat_with_another_method_or_a_session_goes_to_the_api_view(alice, general):
    person_login(person_id=alice.pk)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice.user)

    assert Client().get(f"/personnel/{alice.pk}/heartbeat").status_code == 401
    assert browser.post(f"/personnel/{alice.pk}/heartbeat").status_code == 403  # CSRF
    assert general == ["heartbeat", "heartbeat"]


def test_heartbeat_hands_a_database_error_to_the_api_view(alice, general, monkeypatch):
    from personnel import services

    person_login(person_id=alice.pk)

    def unavailable(**kwargs):
        raise OperationalError(2006, "MySQL server has gone away")

    monkeypatch.setattr(services, "person_heartbeat_with_token", unavailable)
    response = post(f"/personnel/{alice.pk}/heartbeat", key=token(alice.user))

    assert (response.status_code, general) == (200, ["heartbeat"])


# --- sign-in ---


@pytest.mark.parametrize("body", [None, {}, "own id"])
def test_sign_in_of_oneself_is_lean_and_answers_as_the_api_view(alice, general, body):
    make_tasks("first", "second")
    key = token(alice.user)
    body = {"person_id": alice.pk} if body == "own id" else body

    lean = post("/personnel/login", key=key, body=body)
    again = drf("login", "/personnel/login", key=key, body=body)  # already in: same answer

    assert general == []
    assert lean.status_code == 200 and lean.json()["current_task"]["description"] == "first"
    assert comparable(lean) == comparable(again)


@pytest.mark.parametrize(
    "body, raw, status",
    [
        ({"person_id": "own"}, None, 200),  # a numeric string: DRF's IntegerField takes it
        ({"person_id": "other"}, None, 403),
        ({"person_id": 0}, None, 400),
        ({"person_id": 2**64}, None, 400),
        ({"person_id": True}, None, 400),
        ({"person_id": "own", "extra": 1}, None, 400),
        (None, "[1]", 400),
        (None, "{not json", 400),
    ],
)
def test_sign_in_with_any_other_body_goes_to_the_api_view(alice, bob, general, body, raw, status):
    ids = {"own": str(alice.pk), "other": bob.pk}
    body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in (body or {}).items()}

    response = post("/personnel/login", key=token(alice.user), body=body or None, raw=raw)

    assert (response.status_code, general) == (status, ["login"])


def test_sign_in_by_a_supervisor_or_a_bad_token_goes_to_the_api_view(alice, supervisor, general):
    assert (
        post("/personnel/login", key=token(supervisor), body={"person_id": alice.pk}).status_code
        == 200
    )
    assert post("/personnel/login", key=token(supervisor)).status_code == 400  # whom?
    assert post("/personnel/login", key="0" * 40).status_code == 401
    assert general == ["login", "login", "login"]


def test_sign_in_with_a_form_body_goes_to_the_api_view(alice, general):
    response = post(
        "/personnel/login",
        key=token(alice.user),
        raw=f"person_id={alice.pk}",
        content_type="application/x-www-form-urlencoded",
    )

    # The API view answers it: the API takes JSON bodies only.
    assert (response.status_code, general) == (415, ["login"])


def _drop_connection_from_the_server_side():
    """The database ends this thread's connection (as a restart would), unseen by Django."""
    import MySQLdb
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        (connection_id,) = cursor.fetchone()
    s = connection.settings_dict
    admin = MySQLdb.connect(
        host=s["HOST"] or "127.0.0.1",
        port=int(s["PORT"] or 3306),
        user=s["USER"],
        passwd=s["PASSWORD"],
    )
    try:
        admin.cursor().execute(f"KILL {int(connection_id)}")
    finally:
        admin.close()


@pytest.mark.mysql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["heartbeat", "login"])
def test_a_connection_the_database_dropped_is_replaced_not_reported(make_person, general, name):
    """The lean path sends no health-check ping: its first statement finds a dead
    connection, which is closed, and the general view answers on a new one."""
    alice = make_person("Alice")
    person_login(person_id=alice.pk)
    key = token(alice.user)
    post(f"/personnel/{alice.pk}/heartbeat", key=key)  # the connection is in use, and kept
    _drop_connection_from_the_server_side()

    path = f"/personnel/{alice.pk}/heartbeat" if name == "heartbeat" else "/personnel/login"
    response = post(path, key=key)

    assert (response.status_code, general) == (200, [name])
    assert post(path, key=key).status_code == 200  # and the lean path works again
    assert general == [name]

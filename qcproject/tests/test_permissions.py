"""The permission matrix, built from the router so that a new endpoint cannot escape it."""

import pytest

from personnel.services import person_login
from qcproject.urls import router
from tasks.services import task_create

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "other", "self", "supervisor")

# (route name, method) -> (path template, body, expected status per role). "{person}" is the
# acting person (self), signed in with a task in progress; "{task}" is that task.
MATRIX = {
    ("personnel-list", "get"): ("/personnel", None, (401, 403, 403, 200)),
    ("personnel-list", "post"): ("/personnel", {}, (401, 403, 403, 400)),
    ("personnel-detail", "get"): ("/personnel/{person}", None, (401, 403, 200, 200)),
    ("personnel-login", "post"): (
        "/personnel/login",
        {"person_id": "{person}"},
        (401, 403, 200, 200),
    ),
    ("personnel-logout", "post"): ("/personnel/{person}/logout", None, (401, 403, 200, 200)),
    ("personnel-heartbeat", "post"): (
        "/personnel/{person}/heartbeat",
        None,
        (401, 403, 200, 200),
    ),
    ("personnel-status", "get"): ("/personnel/status", None, (401, 403, 403, 200)),
    ("tasks-list", "post"): ("/tasks", {"description": "x"}, (401, 403, 403, 201)),
    ("tasks-complete", "post"): ("/tasks/{task}/complete", None, (401, 403, 200, 200)),
    ("tasks-queue", "get"): ("/tasks/queue", None, (401, 403, 403, 200)),
    ("tasks-detail", "get"): ("/tasks/{task}", None, (401, 403, 403, 200)),
    # Interventions: supervisors only.
    ("personnel-sign-out", "post"): ("/personnel/{person}/sign-out", None, (401, 403, 403, 200)),
    ("tasks-release", "post"): ("/tasks/{task}/release", None, (401, 403, 403, 200)),
    ("tasks-reassign", "post"): (
        "/tasks/{task}/reassign",
        {"person_id": "{free}"},
        (401, 403, 403, 200),
    ),
    ("tasks-cancel", "post"): ("/tasks/{task}/cancel", None, (401, 403, 403, 200)),
}


def routed_endpoints():
    """Every (route name, method) the router serves."""
    found = set()
    for _prefix, viewset, basename in router.registry:
        for route in router.get_routes(viewset):
            for method in router.get_method_map(viewset, route.mapping):
                found.add((route.name.format(basename=basename), method))
    return found


def test_matrix_covers_every_routed_endpoint():
    assert routed_endpoints() == set(MATRIX)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[1]}:{e[0]}")
def test_permission_matrix(api, make_person, supervisor, endpoint, role):
    me, other, free = make_person("Me"), make_person("Other"), make_person("Free")
    (task,) = task_create(descriptions=["mine"])
    person_login(person_id=me.pk)
    person_login(person_id=other.pk)
    person_login(person_id=free.pk)
    path, body, expected = MATRIX[endpoint]
    path = path.format(person=me.pk, task=task.pk)
    if body is not None:
        ids = {"{person}": me.pk, "{free}": free.pk}
        body = {k: ids.get(v, v) for k, v in body.items()}
    actor = {"anonymous": None, "other": other.user, "self": me.user, "supervisor": supervisor}
    if actor[role] is not None:
        api.force_authenticate(actor[role])
    response = getattr(api, endpoint[1])(path, body, format="json")
    assert response.status_code == expected[ROLES.index(role)], response.data


@pytest.mark.parametrize("path", ["/healthz", "/api/schema/", "/api/docs/"])
def test_public_pages_need_no_login(client, path):
    assert client.get(path).status_code == 200

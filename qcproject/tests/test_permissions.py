"""The permission matrix, built from the URL configuration so that a new endpoint cannot
escape it: the router's endpoints in MATRIX, every other route in OTHER_ROUTES."""

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
    # Logins: supervisors only (reactivating an active login is a conflict).
    ("personnel-account", "get"): ("/personnel/{person}/account", None, (401, 403, 403, 200)),
    ("personnel-set-password", "post"): (
        "/personnel/{person}/set-password",
        {"password": "another-horse-battery"},
        (401, 403, 403, 200),
    ),
    ("personnel-deactivate", "post"): (
        "/personnel/{person}/deactivate",
        None,
        (401, 403, 403, 200),
    ),
    ("personnel-reactivate", "post"): (
        "/personnel/{person}/reactivate",
        None,
        (401, 403, 403, 409),
    ),
    ("personnel-tokens", "get"): ("/personnel/{person}/tokens", None, (401, 403, 403, 200)),
    ("personnel-tokens", "delete"): ("/personnel/{person}/tokens", None, (401, 403, 403, 204)),
    ("personnel-token", "delete"): (
        "/personnel/{person}/tokens/999999999",
        None,
        (401, 403, 403, 404),
    ),
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


# --- every other route of the URL configuration ---------------------------------------------

# A route of the URL configuration that the router does not serve (as Django's resolver
# spells it, prefixes joined) -> (method, path, expected status per role). Nothing in these
# paths names a person, so "other" and "self" are both just a QC person here. They sign in
# with a session: these are pages as much as API endpoints.
OTHER_ROUTES = {
    # An empty body is bad credentials, whoever asks.
    "^auth/token/?$": ("post", "/auth/token", (400, 400, 400, 400)),
    # Ends the token presented; a browser session is not one.
    "^auth/logout/?$": ("post", "/auth/logout", (401, 401, 401, 401)),
    "^healthz/?$": ("get", "/healthz", (200, 200, 200, 200)),
    # Asked from an address outside QC_METRICS_ALLOWED_NETWORKS, without the bearer token.
    "^metrics/?$": ("get", "/metrics", (403, 403, 403, 200)),
    "api/schema/": ("get", "/api/schema/", (200, 200, 200, 200)),
    "api/docs/": ("get", "/api/docs/", (200, 200, 200, 200)),
    "api-auth/login/": ("get", "/api-auth/login/", (200, 200, 200, 200)),
    "api-auth/logout/": ("post", "/api-auth/logout/", (302, 302, 302, 302)),
    "^tasks/queue/size/?$": ("get", "/tasks/queue/size", (401, 200, 200, 200)),
    "": ("get", "/", (302, 200, 200, 200)),
    "^portal/?$": ("get", "/portal", (302, 200, 200, 200)),
    "accounts/logout/": ("post", "/accounts/logout/", (302, 302, 302, 302)),
    "accounts/login/": ("get", "/accounts/login/", (200, 200, 200, 200)),
    "accounts/password_change/": ("get", "/accounts/password_change/", (302, 200, 200, 200)),
    "accounts/password_change/done/": (
        "get",
        "/accounts/password_change/done/",
        (302, 200, 200, 200),
    ),
    "accounts/password_reset/": ("get", "/accounts/password_reset/", (200, 200, 200, 200)),
    "accounts/password_reset/done/": (
        "get",
        "/accounts/password_reset/done/",
        (200, 200, 200, 200),
    ),
    "accounts/reset/<uidb64>/<token>/": (
        "get",
        "/accounts/reset/MQ/not-a-token/",
        (200, 200, 200, 200),
    ),
    "accounts/reset/done/": ("get", "/accounts/reset/done/", (200, 200, 200, 200)),
}

# Route prefixes outside the matrix, and why.
EXEMPT_PREFIXES = {
    "admin/": "Django's admin: staff only, page by page; see tasks/tests/test_admin.py",
}


def url_routes(patterns=None, prefix=""):
    """Every leaf route of the URL configuration: (route, served by the router)."""
    from django.urls import URLResolver, get_resolver

    routed = {id(p) for p in router.urls}
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from url_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), id(pattern) in routed


def test_matrix_covers_every_route_of_the_url_configuration():
    """A new route anywhere (not only in the router) must be added to a matrix."""
    unrouted = {route for route, routed in url_routes() if not routed}
    exempt = {r for r in unrouted if r.startswith(tuple(EXEMPT_PREFIXES))}
    assert unrouted - exempt == set(OTHER_ROUTES)
    assert {route for route, routed in url_routes() if routed}, "the router serves nothing?"


@pytest.mark.parametrize("role", [*ROLES, "bad token"])
@pytest.mark.parametrize("endpoint", ["personnel-heartbeat", "personnel-login"])
def test_token_requests_answer_as_the_matrix_says(client, make_person, supervisor, endpoint, role):
    """The requests clients make most, with real API tokens rather than forced
    authentication: the same matrix."""
    from personnel.services import token_issue

    me, other = make_person("Me"), make_person("Other")
    person_login(person_id=me.pk)
    person_login(person_id=other.pk)
    path, body, expected = MATRIX[(endpoint, "post")]
    path = path.format(person=me.pk)
    body = {k: me.pk if v == "{person}" else v for k, v in (body or {}).items()}
    actor = {"other": other.user, "self": me.user, "supervisor": supervisor}.get(role)
    headers = {}
    if actor is not None:
        headers["HTTP_AUTHORIZATION"] = f"Token {token_issue(user=actor).token}"
    elif role == "bad token":
        headers["HTTP_AUTHORIZATION"] = "Token " + "0" * 40
    response = client.post(path, body, content_type="application/json", **headers)
    status = expected[ROLES.index("anonymous" if role == "bad token" else role)]
    assert response.status_code == status, response.content


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(OTHER_ROUTES))
def test_other_routes_matrix(api, make_person, supervisor, route, role):
    me, other = make_person("Me"), make_person("Other")
    actor = {"anonymous": None, "other": other.user, "self": me.user, "supervisor": supervisor}
    if actor[role] is not None:
        api.force_login(actor[role])
    method, path, expected = OTHER_ROUTES[route]
    response = getattr(api, method)(path, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == expected[ROLES.index(role)]

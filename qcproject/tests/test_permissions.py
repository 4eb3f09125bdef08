"""The permission matrix, built from the URL configuration so that a new endpoint cannot
escape it: the router's endpoints in MATRIX, every other route in OTHER_ROUTES."""

import pytest

from qcproject.urls import router
from tasks.services import task_create
from tasks.sessions import person_login

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "other", "self", "supervisor")

# (route name, method) -> (path template, body, expected status per role). "{person}" is the
# acting person (self), signed in with a task in progress; "{task}" is that task.
MATRIX = {
    ("personnel-list", "get"): ("/personnel", None, (401, 403, 403, 200)),
    ("personnel-list", "post"): ("/personnel", {}, (401, 403, 403, 400)),
    ("personnel-detail", "get"): ("/personnel/{person}", None, (401, 403, 200, 200)),
    # Skills: supervisors only.
    ("personnel-detail", "patch"): (
        "/personnel/{person}",
        {"skills": ["welding"]},
        (401, 403, 403, 200),
    ),
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
    ("tasks-decline", "post"): (
        "/tasks/{task}/decline",
        {"reason": "not my line"},
        (401, 403, 200, 200),
    ),
    # A supervisor's edit of a task in progress is refused (routing changes while pending).
    ("tasks-detail", "patch"): ("/tasks/{task}", {"priority": 5}, (401, 403, 403, 409)),
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
    # The catalogue: anyone signed in who reviews or supervises.
    ("defect-codes-list", "get"): ("/defect-codes", None, (401, 200, 200, 200)),
    # Only a disputed task is resolved: the task in progress is a conflict.
    ("tasks-resolve", "post"): (
        "/tasks/{task}/resolve",
        {"outcome": "pass", "note": "checked"},
        (401, 403, 403, 409),
    ),
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
        body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
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
    # Supervisors (and integration accounts: events/tests/test_api.py).
    "^events/?$": ("get", "/events", (401, 403, 403, 200)),
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
    # The language chooser (a cookie, then back to the page) and the script's catalog.
    "i18n/setlang/": ("post", "/i18n/setlang/", (302, 302, 302, 302)),
    "jsi18n/": ("get", "/jsi18n/", (200, 200, 200, 200)),
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


# --- the requests clients make most, as clients make them ------------------------------------

# One request path: the hot endpoints are the router's views, reached through the API's own
# authentication, parsing, permissions and throttles. These tests send real tokens (not
# forced authentication) and check that a policy added to the API reaches them.
HOT_ENDPOINTS = ["personnel-heartbeat", "personnel-login", "tasks-complete"]


def test_every_path_of_a_hot_endpoint_is_the_routers_own():
    hot_routes = {str(url.pattern) for url in router.urls if url.name in HOT_ENDPOINTS}
    served_elsewhere = {route for route, routed in url_routes() if not routed}
    assert hot_routes and not hot_routes & served_elsewhere


def _hot_request(client, make_person, supervisor, endpoint, role):
    """The matrix's request to a hot endpoint, sent by `role` with a real API token."""
    from personnel.services import token_issue

    me, other = make_person("Me"), make_person("Other")
    (task,) = task_create(descriptions=["mine"])
    person_login(person_id=me.pk)
    person_login(person_id=other.pk)
    path, body, expected = MATRIX[(endpoint, "post")]
    path = path.format(person=me.pk, task=task.pk)
    body = {k: me.pk if v == "{person}" else v for k, v in (body or {}).items()}
    actor = {"other": other.user, "self": me.user, "supervisor": supervisor}.get(role)
    headers = {}
    if actor is not None:
        headers["HTTP_AUTHORIZATION"] = f"Token {token_issue(user=actor).token}"
    elif role == "bad token":
        headers["HTTP_AUTHORIZATION"] = "Token " + "0" * 40
    response = client.post(path, body, content_type="application/json", **headers)
    return response, expected[ROLES.index("anonymous" if role == "bad token" else role)]


@pytest.mark.parametrize("role", [*ROLES, "bad token"])
@pytest.mark.parametrize("endpoint", HOT_ENDPOINTS)
def test_hot_endpoints_with_a_token_answer_as_the_matrix_says(
    client, make_person, supervisor, endpoint, role
):
    response, status = _hot_request(client, make_person, supervisor, endpoint, role)
    assert response.status_code == status, response.content


@pytest.mark.parametrize("endpoint", HOT_ENDPOINTS)
def test_a_throttle_added_to_the_api_reaches_the_hot_endpoints(
    client, make_person, supervisor, endpoint, monkeypatch
):
    """DEFAULT_THROTTLE_CLASSES becomes APIView's `throttle_classes` when DRF loads: a view
    that set its own, or a path around the API's views, would escape this."""
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle
    from rest_framework.views import APIView

    class OnePerHour(UserRateThrottle):
        rate = "1/hour"

    monkeypatch.setattr(APIView, "throttle_classes", [OnePerHour])
    cache.clear()
    try:
        first, status = _hot_request(client, make_person, supervisor, endpoint, "self")
        assert first.status_code == status, first.content
        again = client.post(
            first.request["PATH_INFO"],
            content_type="application/json",
            HTTP_AUTHORIZATION=first.request["HTTP_AUTHORIZATION"],
        )
        assert again.status_code == 429, again.content
        assert again.json()["code"] == "throttled"
    finally:
        cache.clear()


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

"""Password guessing: every password entry point counts failures per username and address
(django-axes), the token endpoint is throttled per address (DRF), and a supervisor unlocks
in the admin (issue 12, "unlimited password guessing").

Tests marked REGRESSION failed on the code before the issue was fixed.
"""

import json

import pytest
from django.conf import settings

from tasks.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
HERE = "198.51.100.7"
ELSEWHERE = "203.0.113.9"


def token_attempt(client, username, password, address=HERE, **extra):
    return client.post(
        "/auth/token",
        json.dumps({"username": username, "password": password}),
        content_type="application/json",
        REMOTE_ADDR=address,
        **extra,
    )


def form_attempt(path):
    def attempt(client, username, password, address=HERE):
        return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)

    return attempt


ENTRY_POINTS = {
    "/auth/token": token_attempt,
    "/accounts/login/": form_attempt("/accounts/login/"),
    "/admin/login/": form_attempt("/admin/login/"),
    "/api-auth/login/": form_attempt("/api-auth/login/"),
}


def signed_in(path, response) -> bool:
    if path == "/auth/token":
        return response.status_code == 200 and "token" in response.json()
    return response.status_code == 302  # the forms redirect once signed in


@pytest.fixture
def staff_person(supervisor):
    """The supervisor: the only kind of user the admin's sign-in form lets in."""
    return supervisor


@pytest.mark.parametrize("path", sorted(ENTRY_POINTS))
def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, staff_person, path):
    """REGRESSION: thirty wrong passwords in a row, then the right one worked at once."""
    attempt = ENTRY_POINTS[path]
    for _ in range(30):
        assert not signed_in(path, attempt(client, "boss", "guess"))
    response = attempt(client, "boss", PASSWORD)
    assert not signed_in(path, response)
    assert response.status_code == 429
    if path == "/auth/token":
        body = response.json()
        assert body["code"] == "locked_out"
        assert "Too many failed sign-ins" in body["detail"]
        assert int(response["Retry-After"]) > 0
    else:
        assert b"Too many failed sign-ins" in response.content
        assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", sorted(ENTRY_POINTS))
def test_the_lock_holds_for_that_username_from_that_address_only(client, staff_person, path):
    attempt = ENTRY_POINTS[path]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "boss", "guess")
    assert attempt(client, "boss", PASSWORD).status_code == 429
    # The same person elsewhere (another terminal, another site) signs in.
    assert signed_in(path, attempt(client, "boss", PASSWORD, address=ELSEWHERE))


def test_a_shift_behind_one_address_is_never_refused(client, make_person):
    """Sixty people behind one factory NAT, each with a typo first, then their password;
    one of them locked out meanwhile: everyone else signs in."""
    people = [make_person(username=f"shift{i}") for i in range(60)]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        token_attempt(client, "shift0", "guess")
    for person in people[1:]:
        assert token_attempt(client, person.user.username, "typo").status_code == 400
        response = token_attempt(client, person.user.username, PASSWORD)
        assert response.status_code == 200, response.content
    assert token_attempt(client, "shift0", PASSWORD).status_code == 429


def test_a_successful_sign_in_clears_the_failures(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        token_attempt(client, "person1", "guess")
    assert token_attempt(client, "person1", PASSWORD).status_code == 200
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        token_attempt(client, "person1", "guess")
    assert token_attempt(client, "person1", PASSWORD).status_code == 200


def test_a_supervisor_unlocks_in_the_admin_audited(client, alice, supervisor):
    from axes.models import AccessAttempt

    for _ in range(settings.AXES_FAILURE_LIMIT):
        token_attempt(client, "person1", "guess")
    assert token_attempt(client, "person1", PASSWORD).status_code == 429

    client.force_login(supervisor)
    listed = client.get("/admin/axes/accessattempt/")
    assert listed.status_code == 200 and b"person1" in listed.content
    attempt = AccessAttempt.objects.get(username="person1")
    r = client.post(
        "/admin/axes/accessattempt/",
        {"action": "unlock_selected", "_selected_action": [attempt.pk]},
    )
    assert r.status_code == 302
    client.logout()

    assert token_attempt(client, "person1", PASSWORD).status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.UNLOCK)
    assert event.actor == supervisor and event.person_id == alice.pk
    assert HERE in event.detail


def test_a_qc_person_cannot_reach_the_lockouts(client, alice):
    client.force_login(alice.user)
    assert client.get("/admin/axes/accessattempt/").status_code == 302  # to the admin login


# --- the token endpoint's throttle --------------------------------------------------------------


def test_the_token_endpoint_is_throttled_per_address(client, alice, settings):
    settings.QC_TOKEN_THROTTLE_RATE = "3/minute"
    for _ in range(3):
        assert token_attempt(client, "person1", PASSWORD).status_code == 200
    response = token_attempt(client, "person1", PASSWORD)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert token_attempt(client, "person1", PASSWORD, address=ELSEWHERE).status_code == 200


def test_a_forged_forwarded_for_does_not_change_the_address(client, alice, settings):
    """Without a proxy in front (QC_PROXY_COUNT=0) the header is the client's own words."""
    settings.QC_PROXY_COUNT = 0
    settings.QC_TOKEN_THROTTLE_RATE = "2/minute"
    for n in range(2):
        forged = {"HTTP_X_FORWARDED_FOR": f"192.0.2.{n}"}
        assert token_attempt(client, "person1", PASSWORD, **forged).status_code == 200
    forged = {"HTTP_X_FORWARDED_FOR": "192.0.2.99"}
    assert token_attempt(client, "person1", PASSWORD, **forged).status_code == 429


def test_behind_a_proxy_the_address_it_saw_counts(client, alice, settings):
    settings.QC_PROXY_COUNT = 1
    settings.QC_TOKEN_THROTTLE_RATE = "1/minute"
    proxy = "127.0.0.1"
    first = {"HTTP_X_FORWARDED_FOR": f"10.9.9.9, {HERE}"}  # the client wrote 10.9.9.9
    second = {"HTTP_X_FORWARDED_FOR": ELSEWHERE}
    assert token_attempt(client, "person1", PASSWORD, proxy, **first).status_code == 200
    assert token_attempt(client, "person1", PASSWORD, proxy, **second).status_code == 200
    assert token_attempt(client, "person1", PASSWORD, proxy, **first).status_code == 429


def test_counts_are_kept_where_every_web_process_sees_them():
    from django.core.cache import caches

    assert caches["default"].__class__.__name__ in {"DatabaseCache", "RedisCache"}
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"


def test_an_oversized_token_request_is_refused_before_it_is_parsed(client):
    response = client.post(
        "/auth/token",
        json.dumps({"username": "x" * 20_000, "password": "y"}),
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"

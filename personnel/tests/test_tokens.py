"""API tokens: stored as digests, ending after `QC_TOKEN_TTL` without use, on sign-out, on
a password change however it happened, on deactivation, and when a supervisor revokes them
(issue 12, "tokens stored as issued, never ending").

Tests marked REGRESSION failed on the code before the issue was fixed.
"""

import re
import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def obtain(api, user, password=PASSWORD):
    api.credentials()
    r = api.post("/auth/token", {"username": user.username, "password": password}, format="json")
    assert r.status_code == 200, r.content
    return r.data["token"]


def as_token(api, token):
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def works(api, token, person) -> int:
    return as_token(api, token).get(f"/personnel/{person.pk}").status_code


# --- issue ------------------------------------------------------------------------------------


def test_the_token_answer_carries_the_token_and_its_expiry(api, alice, settings):
    """REGRESSION: the answer had no expiry; tokens never ended."""
    settings.QC_TOKEN_TTL = 8 * 3600
    before = timezone.now()
    r = api.post("/auth/token", {"username": "person1", "password": PASSWORD}, format="json")
    assert r.status_code == 200
    assert set(r.data) == {"token", "expiry"}
    expiry = timezone.datetime.fromisoformat(r.data["expiry"].replace("Z", "+00:00"))
    assert before + timedelta(hours=8) - timedelta(seconds=5) <= expiry
    assert expiry <= timezone.now() + timedelta(hours=8)
    assert works(api, r.data["token"], alice) == 200


def test_tokens_are_stored_as_digests_only(api, alice):
    """REGRESSION: the token table held the raw key; a database backup gave access."""
    token = obtain(api, alice.user)
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField):
                found = model._default_manager.filter(**{field.name: token}).exists()
                assert not found, f"{model._meta.label}.{field.name} holds the raw token"


def test_two_sign_ins_get_two_tokens(api, alice):
    first, second = obtain(api, alice.user), obtain(api, alice.user)
    assert first != second
    assert works(api, first, alice) == 200 and works(api, second, alice) == 200


def test_a_wrong_password_gets_no_token(api, alice):
    r = api.post("/auth/token", {"username": "person1", "password": "wrong"}, format="json")
    assert r.status_code == 400
    assert "token" not in r.data


# --- expiry -----------------------------------------------------------------------------------


def test_a_token_ends_after_the_ttl_without_use(api, alice, settings):
    """REGRESSION: tokens never ended."""
    settings.QC_TOKEN_TTL = 1
    token = obtain(api, alice.user)
    time.sleep(1.2)
    r = as_token(api, token).get(f"/personnel/{alice.pk}")
    assert r.status_code == 401
    assert "expired" in r.data["detail"]


def test_use_refreshes_the_expiry_at_most_once_per_refresh_interval(api, alice, settings):
    from personnel.models import ApiToken

    settings.QC_TOKEN_TTL = 3600
    settings.QC_IDLE_REFRESH_INTERVAL = 60
    token = obtain(api, alice.user)
    row = ApiToken.objects.get(user=alice.user)
    as_token(api, token)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert api.get(f"/personnel/{alice.pk}").status_code == 200
    writes = [q for q in queries if "qc_api_tokens" in q["sql"] and q["sql"].startswith("UPDATE")]
    assert writes == []  # within the refresh interval of the issue: nothing written

    # Half an hour later (the row aged by hand): the next request pushes the expiry out.
    aged = row.expires_at - timedelta(minutes=30)
    ApiToken.objects.filter(pk=row.pk).update(expires_at=aged)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert api.get(f"/personnel/{alice.pk}").status_code == 200
    writes = [q for q in queries if "qc_api_tokens" in q["sql"] and q["sql"].startswith("UPDATE")]
    assert len(writes) == 1
    row.refresh_from_db()
    assert row.expires_at > aged + timedelta(minutes=29)
    assert row.last_used_at is not None


def test_authentication_is_one_statement(alice, django_assert_num_queries):
    from rest_framework.test import APIRequestFactory

    from personnel.authentication import TokenAuthentication
    from personnel.services import token_issue

    issued = token_issue(user=alice.user)
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {issued.token}")
    with django_assert_num_queries(1):
        user, auth = TokenAuthentication().authenticate(request)
        assert user.person.pk == alice.pk  # the person came with the same statement
    assert auth.pk == issued.api_token.pk


# --- the password changes, however it changes -------------------------------------------------


def _set_password_orm(user, client, supervisor):
    user.set_password("another-horse-battery")
    user.save()


def _set_password_update(user, client, supervisor):
    type(user).objects.filter(pk=user.pk).update(password=make_password("another-horse-battery"))


def _set_password_admin(user, client, supervisor):
    supervisor.is_superuser = True
    supervisor.save()
    client.force_login(supervisor)
    r = client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "another-horse-battery", "password2": "another-horse-battery"},
    )
    assert r.status_code == 302, r.content[:500]


def _set_password_own_page(user, client, supervisor):
    client.force_login(user)
    r = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-horse-battery",
            "new_password2": "another-horse-battery",
        },
    )
    assert r.status_code == 302, r.content[:500]


def _set_password_api(user, client, supervisor):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(supervisor)
    r = api.post(
        f"/personnel/{user.person.pk}/set-password",
        {"password": "another-horse-battery"},
        format="json",
    )
    assert r.status_code == 200, r.content


@pytest.mark.parametrize(
    "change",
    [
        _set_password_orm,
        _set_password_update,
        _set_password_admin,
        _set_password_own_page,
        _set_password_api,
    ],
    ids=["shell", "queryset-update", "admin", "own-page", "api"],
)
def test_a_password_change_ends_every_token(api, client, alice, supervisor, change):
    """REGRESSION: a token survived a password change."""
    token = obtain(api, alice.user)
    change(alice.user, client, supervisor)
    r = as_token(api, token).get(f"/personnel/{alice.pk}")
    assert r.status_code == 401
    assert obtain(api, alice.user, "another-horse-battery")


# --- deactivation -----------------------------------------------------------------------------


def test_deactivation_ends_tokens_for_good(api, alice, supervisor):
    """REGRESSION: a deactivated user's token worked again once the login was reactivated."""
    token = obtain(api, alice.user)
    api.force_authenticate(supervisor)
    assert api.post(f"/personnel/{alice.pk}/deactivate").status_code == 200
    api.force_authenticate(None)
    assert works(api, token, alice) == 401
    api.force_authenticate(supervisor)
    assert api.post(f"/personnel/{alice.pk}/reactivate").status_code == 200
    api.force_authenticate(None)
    assert works(api, token, alice) == 401
    assert works(api, obtain(api, alice.user), alice) == 200


def test_a_token_of_a_user_deactivated_in_the_shell_is_refused(api, alice):
    token = obtain(api, alice.user)
    alice.user.is_active = False
    alice.user.save()
    r = as_token(api, token).get(f"/personnel/{alice.pk}")
    assert r.status_code == 401


def test_deactivating_a_user_in_the_user_admin_revokes_their_tokens(api, client, alice, supervisor):
    from personnel.models import ApiToken

    obtain(api, alice.user)
    supervisor.is_superuser = True
    supervisor.save()
    client.force_login(supervisor)
    page = client.get(f"/admin/auth/user/{alice.user.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "groups"}
    data.update(is_active="", date_joined_0="2026-01-01", date_joined_1="00:00:00")
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("user_permissions", None)
    r = client.post(f"/admin/auth/user/{alice.user.pk}/change/", data)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    alice.user.refresh_from_db()
    assert not alice.user.is_active
    assert not ApiToken.objects.filter(user=alice.user).exists()


# --- sign-out ---------------------------------------------------------------------------------


def test_logout_revokes_the_presented_token_only(api, alice):
    """REGRESSION: there was no way to end a token."""
    first, second = obtain(api, alice.user), obtain(api, alice.user)
    r = as_token(api, first).post("/auth/logout")
    assert r.status_code == 204
    assert works(api, first, alice) == 401
    assert works(api, second, alice) == 200


def test_logout_needs_a_token(api, alice):
    assert api.post("/auth/logout").status_code == 401
    api.force_login(alice.user)  # a browser session is not a token
    assert api.post("/auth/logout").status_code == 401


# --- supervisors list and revoke --------------------------------------------------------------


def test_a_supervisor_lists_a_persons_tokens_without_their_secrets(api, alice, supervisor):
    """REGRESSION: a supervisor could not see or revoke a token."""
    token = obtain(api, alice.user)
    api.credentials()
    api.force_authenticate(supervisor)
    r = api.get(f"/personnel/{alice.pk}/tokens")
    assert r.status_code == 200
    (listed,) = r.data
    assert set(listed) == {"id", "prefix", "created_at", "last_used_at", "expires_at"}
    assert token.startswith(listed["prefix"]) and len(listed["prefix"]) < len(token) // 4
    assert token not in r.content.decode()


def test_a_supervisor_revokes_one_token_audited(api, alice, supervisor):
    keep, end = obtain(api, alice.user), obtain(api, alice.user)
    api.credentials()
    api.force_authenticate(supervisor)
    listed = api.get(f"/personnel/{alice.pk}/tokens").data
    (gone,) = [t for t in listed if end.startswith(t["prefix"])]
    assert api.delete(f"/personnel/{alice.pk}/tokens/{gone['id']}").status_code == 204
    api.force_authenticate(None)
    assert works(api, end, alice) == 401
    assert works(api, keep, alice) == 200
    event = AuditEvent.objects.get(action=AuditAction.REVOKE_TOKENS)
    assert event.actor == supervisor and event.person_id == alice.pk
    assert gone["prefix"] in event.detail


def test_a_supervisor_revokes_all_of_a_persons_tokens(api, alice, bob, supervisor):
    tokens = [obtain(api, alice.user), obtain(api, alice.user)]
    bobs = obtain(api, bob.user)
    api.credentials()
    api.force_authenticate(supervisor)
    assert api.delete(f"/personnel/{alice.pk}/tokens").status_code == 204
    api.force_authenticate(None)
    assert [works(api, t, alice) for t in tokens] == [401, 401]
    assert works(api, bobs, bob) == 200
    assert AuditEvent.objects.filter(action=AuditAction.REVOKE_TOKENS, person=alice).count() == 1


def test_another_persons_token_id_is_not_found(api, alice, bob, supervisor):
    obtain(api, bob.user)
    from personnel.models import ApiToken

    bobs = ApiToken.objects.get(user=bob.user)
    api.credentials()
    api.force_authenticate(supervisor)
    assert api.delete(f"/personnel/{alice.pk}/tokens/{bobs.pk}").status_code == 404
    assert ApiToken.objects.filter(pk=bobs.pk).exists()


def test_qc_personnel_cannot_list_or_revoke_tokens(api, alice, bob):
    obtain(api, bob.user)
    api.credentials()
    api.force_authenticate(alice.user)
    assert api.get(f"/personnel/{alice.pk}/tokens").status_code == 403
    assert api.get(f"/personnel/{bob.pk}/tokens").status_code == 403
    assert api.delete(f"/personnel/{bob.pk}/tokens").status_code == 403


def test_the_admin_revokes_tokens_audited(client, alice, supervisor, api):
    from personnel.models import ApiToken

    token = obtain(api, alice.user)
    client.force_login(supervisor)
    listed = client.get("/admin/personnel/apitoken/")
    assert listed.status_code == 200 and token not in listed.content.decode()
    row = ApiToken.objects.get(user=alice.user)
    r = client.post(
        "/admin/personnel/apitoken/",
        {"action": "revoke_selected", "_selected_action": [row.pk]},
    )
    assert r.status_code == 302
    assert not ApiToken.objects.filter(pk=row.pk).exists()
    assert works(api, token, alice) == 401
    assert AuditEvent.objects.filter(action=AuditAction.REVOKE_TOKENS, person=alice).exists()


# --- tokens from before the upgrade -----------------------------------------------------------


def test_tokens_from_before_the_upgrade_are_hashed_and_keep_working(api, alice):
    """The upgrade keeps existing clients signed in, and leaves no raw key behind."""
    import importlib

    from rest_framework.authtoken.models import Token

    legacy = Token.objects.create(user=alice.user)
    migration = importlib.import_module("personnel.migrations.0003_hash_legacy_tokens")

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    migration.hash_legacy_tokens(apps, editor)

    assert not Token.objects.filter(key=legacy.key).exists()
    assert works(api, legacy.key, alice) == 200


# --- demo data --------------------------------------------------------------------------------


def test_seed_demo_prints_tokens_that_work_every_time(api, settings):
    from io import StringIO

    from django.core.management import call_command

    from personnel.models import Person

    for _ in range(2):
        out = StringIO()
        call_command("seed_demo", "--force", stdout=out)
        alice = Person.objects.get(user__username="alice")
        (line,) = [ln for ln in out.getvalue().splitlines() if ln.strip().startswith("alice ")]
        token = re.split(r"\s+", line.strip())[-1]
        assert works(api, token, alice) == 200


def test_clear_expired_tokens_deletes_the_expired_only(alice, bob):
    from io import StringIO

    from django.core.management import call_command

    from personnel.models import ApiToken
    from personnel.services import token_issue

    expired, live = token_issue(user=alice.user), token_issue(user=bob.user)
    ApiToken.objects.filter(pk=expired.api_token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    out = StringIO()
    call_command("clear_expired_tokens", stdout=out)
    assert "1 expired API token(s) deleted." in out.getvalue()
    assert list(ApiToken.objects.values_list("pk", flat=True)) == [live.api_token.pk]

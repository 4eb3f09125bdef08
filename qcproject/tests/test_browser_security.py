"""The browser side in production: HTTPS only (redirect and HSTS, with the health check and
metrics exempt), a Content-Security-Policy with nonces, an HttpOnly CSRF cookie, sessions
that end after a shift without use, and `manage.py check --deploy` clean (issue 12).

Settings are read once, when the settings module loads: the production defaults are
checked in a fresh process with production's environment.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.test import override_settings

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET = "x7Kq2v9Lr4tWm8Zp3Nc6Hy1Bf5Dj0Gs-Xe_Ua7Qo9Vi2Tl4Rk8Mw6Pz3Yb1Ch5En"

_PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name, None) for name in [
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_REDIRECT_EXEMPT",
    "SESSION_COOKIE_AGE", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER", "SILENCED_SYSTEM_CHECKS"]}))
"""


def production_env(**extra) -> dict:
    # Without what the test run sets for itself (browser tests allow async-unsafe calls).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "SESSION_", "CSRF_", "PYTEST_", "DJANGO_ALLOW_ASYNC"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="qcproject.settings",
        DEBUG="0",
        SECRET_KEY=STRONG_SECRET,
        ALLOWED_HOSTS="qc.example.com",
        CSRF_TRUSTED_ORIGINS="https://qc.example.com",
    )
    env.update(extra)
    return env


def production_settings(**extra) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PRINT_SETTINGS],
        cwd=ROOT,
        env=production_env(**extra),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_defaults_are_https_only_with_a_shift_long_session():
    """REGRESSION: no HSTS, no SSL redirect, sessions of two weeks."""
    s = production_settings()
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert s["SESSION_COOKIE_AGE"] == 8 * 3600
    assert s["CSRF_COOKIE_HTTPONLY"] is True
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_each_default_has_its_variable():
    s = production_settings(
        SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="3600", SESSION_COOKIE_AGE="900"
    )
    assert s["SECURE_SSL_REDIRECT"] is False
    assert s["SECURE_HSTS_SECONDS"] == 3600
    assert s["SESSION_COOKIE_AGE"] == 900
    # Turned off on purpose: the deploy check does not warn about it.
    assert "security.W008" in s["SILENCED_SYSTEM_CHECKS"]


def test_check_deploy_is_clean_with_production_settings():
    """REGRESSION: `manage.py check --deploy` warned (no HSTS, no SSL redirect)."""
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_every_silenced_check_says_why():
    source = (ROOT / "qcproject" / "settings.py").read_text()
    silenced = re.findall(r'"(security\.W\d+)"', source)
    assert silenced
    for check in set(silenced):
        # The reason sits in the comment that names the check, right above it.
        assert re.search(rf"# {re.escape(check)} \([^)]+\): \w+", source), check


# --- the redirect and HSTS, in a process with production's values -------------------------------

HTTPS_ONLY = {
    "ALLOWED_HOSTS": ["qc.example.com", "testserver"],
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
}


@override_settings(**HTTPS_ONLY)
@pytest.mark.parametrize("path", ["/healthz", "/healthz/", "/metrics", "/metrics/"])
def test_health_check_and_metrics_answer_plain_http(client, path, settings):
    """Load balancers and Prometheus scrape over plain HTTP on loopback."""
    settings.QC_METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = client.get(path, REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200, response.status_code


@override_settings(**HTTPS_ONLY)
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/admin/", "/auth/token", "/tasks"])
def test_everything_else_over_plain_http_is_redirected_to_https(client, path):
    response = client.get(path, HTTP_HOST="qc.example.com")
    assert response.status_code == 301
    assert response["Location"] == f"https://qc.example.com{path}"


@override_settings(**HTTPS_ONLY)
def test_https_answers_carry_hsts(client):
    response = client.get(
        "/accounts/login/", HTTP_HOST="qc.example.com", HTTP_X_FORWARDED_PROTO="https"
    )
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"


@override_settings(SECURE_SSL_REDIRECT=False)
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/healthz"])
def test_with_the_redirect_off_plain_http_works_everywhere(client, path):
    assert client.get(path).status_code in (200, 302)  # / sends a stranger to sign in
    assert client.get(path)["Location" if path == "/" else "Content-Type"] != ""


# --- Content-Security-Policy ---------------------------------------------------------------------


def csp(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


def test_pages_carry_a_policy_that_forbids_inline_scripts(client, alice):
    """REGRESSION: no Content-Security-Policy anywhere."""
    client.force_login(alice.user)
    policy = csp(client.get("/"))
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]


def test_an_inline_style_carries_the_nonce_of_its_response(client, supervisor):
    response = client.get("/api/docs/")
    (nonce,) = re.findall(r'<style nonce="([^"]+)">', response.content.decode())
    assert f"'nonce-{nonce}'" in csp(response)["style-src"]
    again = client.get("/api/docs/")
    assert f"'nonce-{nonce}'" not in csp(again)["style-src"]  # a new one each time


def test_the_api_docs_inline_script_carries_the_nonce(client):
    response = client.get("/api/docs/")
    html = response.content.decode()
    (nonce,) = set(re.findall(r'<script nonce="([^"]+)">', html))
    assert f"'nonce-{nonce}'" in csp(response)["script-src"]
    assert "<script>" not in html and "<style>" not in html


def test_api_answers_get_a_policy_that_loads_nothing(api, supervisor):
    api.force_authenticate(supervisor)
    response = api.get("/tasks/queue")
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_no_template_has_an_inline_script_or_style_without_a_nonce():
    for template in (ROOT / "templates").rglob("*.html"):
        html = template.read_text()
        for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
            if "src=" in tag or 'type="application/json"' in tag:
                continue
            assert "nonce=" in tag, f"{template.relative_to(ROOT)}: {tag}"
        assert not re.search(r"\son[a-z]+=", html), f"{template}: inline event handler"


# --- the CSRF cookie ------------------------------------------------------------------------------


def test_the_csrf_cookie_is_http_only_and_the_portal_reads_the_token_from_the_page(client, alice):
    client.force_login(alice.user)
    response = client.get("/")
    assert response.cookies["csrftoken"]["httponly"] is True
    (token,) = re.findall(r'<meta name="csrf-token" content="([^"]+)">', response.content.decode())
    script = (ROOT / "static" / "portal" / "portal.js").read_text()
    # The script reads document.cookie only for its own preferences, never the CSRF token.
    assert 'meta[name="csrf-token"]' in script and "csrftoken" not in script
    # The token from the page is accepted for a session's write.
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice.user)
    strict.cookies["csrftoken"] = response.cookies["csrftoken"].value
    r = strict.post(
        f"/personnel/{alice.pk}/logout", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert r.status_code == 200, r.content


# --- the session idle timeout ----------------------------------------------------------------


def _session(client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def test_a_session_in_use_is_pushed_out_once_per_interval_not_per_request(client, alice, settings):
    """REGRESSION: sessions lasted two weeks from sign-in, used or not."""
    settings.SESSION_COOKIE_AGE = 3600
    settings.QC_IDLE_REFRESH_INTERVAL = 60
    client.force_login(alice.user)
    first = client.get("/")
    assert "sessionid" in first.cookies  # the first request marks the session
    assert first.cookies["sessionid"]["max-age"] == 3600
    expiry = _session(client).expire_date
    for _ in range(3):
        assert "sessionid" not in client.get("/").cookies  # nothing written meanwhile
    assert _session(client).expire_date == expiry

    # An interval later (the mark aged by hand), the next request pushes the expiry out.
    session = client.session
    session["_qc_refreshed_at"] = int(time.time()) - 61
    session.save()
    Session.objects.filter(session_key=session.session_key).update(expire_date=expiry)
    assert "sessionid" in client.get("/").cookies
    assert _session(client).expire_date > expiry


def test_an_idle_session_ends(client, alice, settings):
    settings.SESSION_COOKIE_AGE = 1
    client.force_login(alice.user)
    assert client.get("/").status_code == 200
    time.sleep(1.5)
    assert client.get("/").status_code == 302  # to the sign-in page

"""Shared fixtures. The suite runs against MariaDB/MySQL (`make test` sets DATABASE_URL):
SQLite ignores FOR UPDATE and would pass the concurrency tests without testing anything.
"""

import os

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "qcproject.mysql" and not os.environ.get("QC_ALLOW_SQLITE_TESTS"):
        pytest.exit(
            f"The suite needs MariaDB/MySQL (DATABASE_URL=mysql://...), not {engine}. "
            "Run `make test`, or set QC_ALLOW_SQLITE_TESTS=1 for a partial run.",
            returncode=2,
        )


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """PBKDF2 at production strength costs ~0.3 s a password; tests need none of it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_defect_catalogue():
    """Each test reads the defect catalogue anew: a process trusts what it read for a few
    seconds (`tasks.reviews.active_codes`), and a test's rollback sends no signal."""
    from tasks import reviews

    reviews.catalogue_changed()


@pytest.fixture
def make_person(db):
    from personnel.services import person_create

    counter = iter(range(1, 1_000_000))

    def make(name=None, *, username=None, password="correct-horse-battery"):
        n = next(counter)
        return person_create(
            name=name or f"Person {n}", username=username or f"person{n}", password=password
        )

    return make


@pytest.fixture
def alice(make_person):
    return make_person("Alice")


@pytest.fixture
def bob(make_person):
    return make_person("Bob")


@pytest.fixture
def supervisor(db, django_user_model):
    """A staff user in the Supervisors group."""
    from tasks.roles import make_supervisor

    return make_supervisor(
        django_user_model.objects.create_user(username="boss", password="correct-horse-battery")
    )


@pytest.fixture
def api():
    """An API client; `api.force_authenticate(user)` to act as someone."""
    return APIClient()


@pytest.fixture
def short_timeout():
    with override_settings(QC_HEARTBEAT_TIMEOUT=1):
        yield 1


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never Playwright's own download).

    Browser test modules set DJANGO_ALLOW_ASYNC_UNSAFE before importing Playwright: its
    sync API runs an event loop in the test thread, which only drives the browser.
    """
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (make test does).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe():
    """Runs axe-core (bundled with axe-playwright-python) in a Playwright page, with every
    rule but the experimental ones. Returns the violations, one readable line each: a test
    asserts `axe(page) == []`.
    """
    from axe_playwright_python.sync_playwright import Axe

    engine = Axe()

    def violations(page) -> list[str]:
        results = engine.run(page)
        return [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + "; ".join(" ".join(node["target"]) for node in v["nodes"])
            for v in results.response["violations"]
        ]

    return violations

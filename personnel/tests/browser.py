"""Helpers for the QC portal's browser tests (Playwright driving Debian's Chromium).

Importing this module allows Django's database calls from the test thread: Playwright's
sync API runs an event loop there, which only drives the browser.
"""

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import expect  # noqa: E402

from tasks.testing import subprocess_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"


@contextmanager
def assigner_process(log_path: Path, **env):
    """`run_assigner --interval 0.5` on the test database, as a separate process."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_assigner", "--interval", "0.5"],
            cwd=ROOT,
            env={**subprocess_env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def sign_in(page, username: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/$"))


def start_work(page) -> None:
    page.locator("#start").click()


def expect_task(page, task) -> None:
    expect(page.locator("#panel-working")).to_be_visible()
    expect(page.locator("#task-id")).to_have_text(f"#{task.pk}")
    expect(page.locator("#task-description")).to_have_text(task.description)

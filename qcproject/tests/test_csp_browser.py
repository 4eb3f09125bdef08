"""The pages work in a real browser with the Content-Security-Policy on: Debian's Chromium,
headless, reports every violation of the policy, and each page must have none while doing
its job (the portal's script runs, the admin's and Swagger UI's scripts and styles load)."""

import os

import pytest

from tasks.services import task_create
from tasks.sessions import person_login

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop only drives the browser

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"

# Collected in the page before any of its own scripts run (init scripts are not subject to
# the page's policy).
_COLLECT = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    context.add_init_script(_COLLECT)
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda m: page.console_messages.append(m.text))
    yield page
    context.close()


def violations(page) -> list[str]:
    found = page.evaluate("window.__cspViolations")
    found += [m for m in page.console_messages if "Content Security Policy" in m]
    return found


def sign_in(page, username):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_the_portal_works_under_the_policy(page, alice):
    task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "person1")
    assert violations(page) == []
    expect(page.locator("#start")).to_be_visible()  # portal.js ran
    page.click("#start")
    expect(page.locator("#task-description")).to_have_text("Inspect weld seams")
    page.click("#complete")
    expect(page.locator("#panel-waiting")).to_be_visible()
    assert violations(page) == []


@pytest.mark.parametrize(
    "path, ready",
    [
        ("/admin/", "#content-main"),
        ("/admin/tasks/task/dashboard/", "#qc-people"),
        ("/admin/tasks/task/", "#changelist"),
        ("/admin/tasks/auditevent/", "#changelist"),
        ("/admin/personnel/person/{person}/change/", "#qc-login"),
        ("/admin/personnel/person/{person}/password/", "#id_new_password1"),
        ("/admin/personnel/apitoken/", "#changelist"),
        ("/admin/axes/accessattempt/", "#changelist"),
        ("/admin/tasks/task/import/", "#content-main"),
    ],
)
def test_admin_pages_work_under_the_policy(page, supervisor, alice, path, ready):
    (task,) = task_create(descriptions=["Inspect weld seams"])
    person_login(person_id=alice.pk)
    sign_in(page, "boss")
    page.goto(path.format(person=alice.pk))
    expect(page.locator(ready)).to_be_visible()
    # The admin's own scripts ran (its theme toggle is added by script).
    expect(page.locator("button.theme-toggle")).to_be_visible()
    assert violations(page) == []


def test_the_admin_list_actions_work_under_the_policy(page, supervisor, alice):
    """The action bar's script (select all, the action select) runs."""
    task_create(descriptions=["a", "b"])
    sign_in(page, "boss")
    page.goto("/admin/tasks/task/")
    page.check("#action-toggle")
    expect(page.locator(".action-counter")).to_contain_text("2 of 2 selected")
    assert violations(page) == []


def test_swagger_ui_works_under_the_policy(page):
    page.goto("/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.get_by_text("/auth/token").first).to_be_visible()
    assert violations(page) == []


def test_the_browsable_api_renders_under_the_policy(page, supervisor):
    sign_in(page, "boss")
    page.goto("/tasks/queue")
    expect(page.locator(".response-info")).to_be_visible()
    # Every script and stylesheet of DRF's page loads (its inline style with the nonce). DRF
    # also sets a few style attributes (layout only) and its bundled libraries probe for
    # inline event handlers; the policy refuses those, and the page works without them.
    refused = [v for v in violations(page) if v.split()[0] in ("script-src-elem", "style-src-elem")]
    assert refused == []

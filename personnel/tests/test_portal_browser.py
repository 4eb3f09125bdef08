"""The QC portal in a real browser: Debian's Chromium, headless, driven by Playwright.

Each test runs against a live server on the test database (MariaDB) with `run_assigner`
running beside it as a separate process, as in production. `make test` installs the
`chromium` Debian package when it is missing; Playwright's own browser download is not used.

The screenshot for the README is written to `docs/screenshots/portal.png` only when
UPDATE_SCREENSHOTS=1 is set, so an ordinary test run leaves the working tree clean.
"""

import os
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db.models.functions import Now
from playwright.sync_api import expect

from personnel.models import Person
from tasks.interventions import task_release
from tasks.models import Assignment, EndReason, Task, TaskStatus
from tasks.services import NewTask, task_create
from tasks.sessions import person_login, person_logout

from .browser import ROOT, expect_task, sign_in, start_work

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = ROOT / "docs" / "screenshots" / "portal.png"


# --- helpers (the shared ones, and the fixtures, are in browser.py and conftest.py) ---


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def status_of(task) -> str:
    return Task.objects.values_list("status", flat=True).get(pk=task.pk)


def tasks_in(body) -> list[dict]:
    """Every task object (a dict with a description) anywhere in a JSON body."""
    if isinstance(body, list):
        return [t for item in body for t in tasks_in(item)]
    if not isinstance(body, dict):
        return []
    found = [body] if "description" in body else []
    return found + [t for value in body.values() for t in tasks_in(value)]


def record_api_calls(page) -> list[tuple[str, str]]:
    """(method, path) of every request the page sends to the API from now on."""
    calls = []
    page.on("request", lambda r: calls.append((r.method, urlsplit(r.url).path)))
    return calls


# --- tests ---


def test_person_works_the_whole_queue_with_clicks_only_and_no_reload(page, make_person, assigner):
    make_person("Ada Lovelace", username="ada")
    tasks = task_create(
        descriptions=[
            "Inspect weld seams on frame batch 2417",
            "Verify torque <b>not bold</b> on wheel hubs",
            "Check paint thickness on door panels",
        ]
    )
    sign_in(page, "ada")
    expect(page.locator("#state-text")).to_have_text("Not working")
    page.evaluate("window.noReloadMarker = 42")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    start_work(page)
    expect_task(page, tasks[0])
    expect(page.locator("#state-text")).to_have_text("Working")
    expect(page.locator("#task-elapsed")).to_have_text(re.compile(r"^\d+ s$"))
    expect(page.locator("#queue-size")).to_have_text("2 tasks wait in the queue.")

    calls = record_api_calls(page)
    complete = page.get_by_role("button", name="Complete")
    for done, following in zip(tasks, tasks[1:], strict=False):
        seen = len(calls)
        if done is tasks[1]:
            # The keyboard: the focus stays on Complete from one task to the next.
            expect(complete).to_be_focused()
            expect(complete).to_be_enabled()
            page.keyboard.press("Enter")
        else:
            complete.click()
        expect_task(page, following)
        # One HTTP request between the click and the next task on screen.
        # (Besides the queue's size, and the defect codes read again when work started.)
        made = [c for c in calls[seen:] if c[1] not in ("/tasks/queue/size", "/defect-codes")]
        assert made == [("POST", f"/tasks/{done.pk}/complete")]
    # The description is text, not markup.
    assert page.locator("#task-description b").count() == 0

    complete.click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    expect(page.locator("#state-text")).to_have_text("Working · waiting for a task")
    expect(page.locator("#queue-size")).to_have_text("The queue is empty.")
    expect(page.locator("#notice")).to_contain_text(f"Task #{tasks[2].pk} completed.")
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.COMPLETED}

    # A task created now is assigned at once and shows within seconds, by itself.
    (new,) = task_create(descriptions=["Re-check batch 2417 after rework"])
    expect_task(page, new)
    expect(page.locator("#notice")).to_have_text(f"New task #{new.pk} assigned to you.")

    assert page.evaluate("window.noReloadMarker") == 42
    assert navigations == []


def test_expired_session_says_the_task_went_back_and_start_again_works(
    page, make_person, expiring_sessions
):
    person = make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)

    # The laptop loses the network (or sleeps) for longer than the timeout.
    page.context.set_offline(True)
    banner = page.locator("#connection")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "status")
    expect(page.locator("#connection-text")).to_contain_text("onnect")
    wait_until(lambda: status_of(task) == TaskStatus.PENDING, timeout=30)
    assert not Person.objects.get(pk=person.pk).is_logged_in  # swept by the assigner

    # It comes back: the page finds out by itself, at once.
    page.context.set_offline(False)
    expired = page.locator("#panel-expired")
    expect(expired).to_be_visible()
    expect(page.locator("#expired-text")).to_contain_text(
        f"Task #{task.pk} went back to the queue."
    )
    expect(banner).to_be_hidden()
    expect(page.locator("#state-text")).to_have_text("Session ended")
    expect(page.get_by_role("button", name="Start again")).to_be_focused()

    page.get_by_role("button", name="Start again").click()
    expect_task(page, task)  # back in the queue at its old place, so it is given again
    assert status_of(task) == TaskStatus.IN_PROGRESS


def test_complete_answered_409_shows_the_session_ended_message(page, make_person, assigner):
    person = make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)

    person_logout(person_id=person.pk)  # e.g. stopped from another tab
    page.get_by_role("button", name="Complete").click()
    expect(page.locator("#panel-expired")).to_be_visible()
    expect(page.locator("#expired-text")).to_contain_text("Your work session was ended")
    expect(page.locator("#expired-text")).to_contain_text(
        f"Task #{task.pk} went back to the queue."
    )
    assert status_of(task) == TaskStatus.PENDING

    page.get_by_role("button", name="Start again").click()
    expect_task(page, task)


def test_task_taken_back_by_a_supervisor_moves_the_page_to_the_persons_next_task(
    page, make_person, supervisor, assigner
):
    make_person(username="ada")
    first, second = task_create(descriptions=["Inspect weld seams", "Check paint thickness"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, first)

    task_release(actor=supervisor, task_id=first.pk)  # Ada, still signed in, gets `second`
    page.get_by_role("button", name="Complete").click()  # answered 409: not hers any more
    expect_task(page, second)
    expect(page.locator("#state-text")).to_have_text("Working")
    expect(page.locator("#notice")).to_have_text(
        f"Task #{first.pk} is no longer yours: a supervisor took it back, or it was finished "
        f"in another window. Your task now is #{second.pk}."
    )
    assert status_of(first) == TaskStatus.PENDING


def test_a_task_past_its_time_limit_says_so_and_moves_on(page, make_person, assigner):
    make_person(username="ada")
    (first,) = task_create(tasks=[NewTask("Inspect weld seams", max_handle_seconds=1)])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, first)
    (second,) = task_create(descriptions=["Check paint thickness"])

    # The assigner (every 0.5 s) takes it back after a second; Ada gets `second`.
    wait_until(
        lambda: Assignment.objects.filter(task=first, end_reason=EndReason.TIMED_OUT).exists()
    )
    page.get_by_role("button", name="Complete").click()  # answered 409: not hers any more
    expect_task(page, second)
    expect(page.locator("#notice")).to_have_text(
        f"Task #{first.pk} went back to the queue: its time limit passed. "
        f"Your task now is #{second.pk}."
    )


def test_stop_work_puts_the_task_back_in_the_queue(page, make_person, assigner):
    person = make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)

    page.get_by_role("button", name="Stop work").click()
    expect(page.locator("#notice")).to_have_text(
        f"You stopped work. Task #{task.pk} went back to the queue."
    )
    expect(page.get_by_role("button", name="Start work")).to_be_focused()
    expect(page.get_by_role("button", name="Stop work")).to_be_hidden()
    assert status_of(task) == TaskStatus.PENDING
    assert Task.objects.get(pk=task.pk).assigned_to_id is None
    time.sleep(1)  # two assigner cycles: nobody is signed in to take it
    assert status_of(task) == TaskStatus.PENDING
    assert not Person.objects.get(pk=person.pk).is_logged_in


def test_signing_out_mid_task_puts_the_task_back_in_the_queue(page, make_person, assigner):
    make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("status")).to_contain_text(f"Task #{task.pk} went back to the queue.")
    assert status_of(task) == TaskStatus.PENDING


def test_another_persons_task_never_appears_on_the_page(page, make_person, assigner):
    me, other = make_person(username="ada"), make_person(username="bob")
    theirs, *mine = task_create(
        descriptions=["Bob's task: inspect rivets", "Ada's first task", "Ada's second task"]
    )
    person_login(person_id=other.pk)
    assert Task.objects.get(pk=theirs.pk).assigned_to_id == other.pk

    answers = []
    page.on("response", lambda response: answers.append(response))
    pattern = re.compile(rf"#{theirs.pk}\b|Bob's task")

    def assert_not_shown():
        assert not pattern.search(page.content())

    sign_in(page, "ada")
    assert_not_shown()
    start_work(page)
    expect_task(page, mine[0])
    assert_not_shown()
    page.get_by_role("button", name="Complete").click()
    expect_task(page, mine[1])
    assert_not_shown()
    page.get_by_role("button", name="Complete").click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    heartbeat = f"/personnel/{me.pk}/heartbeat"
    with page.expect_response(lambda r: urlsplit(r.url).path == heartbeat):
        pass  # a heartbeat while waiting
    assert_not_shown()

    # Nor in anything the API sent this page.
    fetched = [a.json() for a in answers if a.request.resource_type == "fetch"]
    assert theirs.pk not in {t["id"] for body in fetched for t in tasks_in(body)}
    assert {mine[0].pk, mine[1].pk} <= {t["id"] for body in fetched for t in tasks_in(body)}
    assert Task.objects.get(pk=theirs.pk).assigned_to_id == other.pk


def test_complete_is_double_click_safe(page, make_person, assigner):
    make_person(username="ada")
    first, second, third = task_create(descriptions=["one", "two", "three"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, first)
    expect(page.get_by_role("button", name="Complete")).to_be_enabled()

    # Two clicks while the request is in flight, and a third the moment the next task shows.
    # (An evaluate waits without a timeout of its own: the promise gives up after 5 s.)
    shown = page.evaluate(
        """() => new Promise((resolve) => {
            const button = document.getElementById("complete");
            const observer = new MutationObserver(() => {
                observer.disconnect();
                button.click();
                resolve(true);
            });
            observer.observe(document.getElementById("task-id"), {childList: true, subtree: true});
            setTimeout(() => { observer.disconnect(); resolve(false); }, 5000);
            button.click();
            button.click();
        })"""
    )
    assert shown, "the next task never showed"
    expect_task(page, second)
    page.wait_for_timeout(700)
    expect(page.get_by_role("button", name="Complete")).to_be_enabled()
    assert [status_of(t) for t in (first, second, third)] == [
        TaskStatus.COMPLETED,
        TaskStatus.IN_PROGRESS,
        TaskStatus.PENDING,
    ]


def test_server_trouble_shows_reconnecting_and_recovers(page, make_person, assigner):
    person = make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)

    heartbeat = f"**/personnel/{person.pk}/heartbeat"
    page.route(
        heartbeat,
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "5"},
            json={"detail": "The database is unavailable; retry shortly.", "code": "unavailable"},
        ),
    )
    page.evaluate("window.dispatchEvent(new Event('online'))")  # as after waking from sleep
    expect(page.locator("#connection")).to_be_visible()
    expect(page.locator("#connection-text")).to_contain_text("The server is unavailable.")
    expect(page.locator("#connection-text")).to_contain_text("Reconnecting in")
    expect_task(page, task)  # the task stays on screen meanwhile

    page.unroute(heartbeat)
    page.get_by_role("button", name="Retry now").click()
    expect(page.locator("#connection")).to_be_hidden()
    expect(page.locator("#state-text")).to_have_text("Working")
    expect_task(page, task)


def test_ended_sign_in_asks_to_sign_in_again(page, make_person, assigner):
    make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)

    page.context.clear_cookies()  # the Django session is gone (expired, or signed out)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#panel-signed-out")).to_be_visible()
    expect(page.locator("#state-text")).to_have_text("Signed out")
    page.get_by_role("link", name="Sign in again").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))


def test_supervisor_is_pointed_to_the_admin(page, supervisor):
    sign_in(page, "boss")
    link = page.get_by_role("link", name="Go to the admin")
    expect(link).to_have_attribute("href", "/admin/")
    link.click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def test_working_page_screenshot(page, make_person, assigner, tmp_path):
    """The README's picture: a realistic task, a few minutes in. Also checks a tablet."""
    person = make_person("Ada Lovelace", username="ada")
    task_create(
        descriptions=[
            "Batch 2417 · frame welds, line 3\n"
            "Inspect the 12 corner welds of pallet B for porosity and undercut. Photograph "
            "any defect and log it against the batch before releasing the pallet.",
            "Batch 2418 · wheel hubs: verify torque marks on all 24 bolts",
            "Batch 2419 · door panels: paint thickness at the 6 marked points",
            "Batch 2420 · seat rails: check the weld spatter was removed",
        ]
    )
    Task.objects.update(created_at=Now() - timedelta(minutes=23))
    person_login(person_id=person.pk)
    Assignment.objects.update(assigned_at=Now() - timedelta(minutes=4, seconds=12))
    sign_in(page, "ada")
    expect(page.locator("#task-elapsed")).to_have_text(re.compile(r"^4 min 1\d s$"))
    expect(page.locator("#task-age")).to_have_text("(23 min ago)")
    expect(page.locator("#queue-size")).to_have_text("3 tasks wait in the queue.")
    expect(page.get_by_role("button", name="Complete")).to_be_enabled()

    update = os.environ.get("UPDATE_SCREENSHOTS") == "1"
    path = SCREENSHOT if update else tmp_path / "portal.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000

    page.set_viewport_size({"width": 800, "height": 1100})
    page.screenshot(path=str(tmp_path / "portal-tablet.png"))
    # Nothing wider than the tablet's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 800

"""The portal's review controls in Chromium (docs/engine.md, "Outcomes"): the verdict, notes
and defect codes that go with a complete, in both modes of QC_REQUIRE_OUTCOME (Complete with
an optional verdict; Pass and Fail), from the keyboard alone, with axe-core's scan and the
focus rings checked in each mode.

The live server runs in the test process, so the `settings` fixture switches its mode.
"""

import json
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tasks.models import Assignment, DefectCode, EndReason, Task, TaskStatus
from tasks.services import NewTask, task_complete, task_create
from tasks.sessions import person_login

from .browser import expect_task, sign_in, start_work
from .test_portal_shift_browser import check_keyboard_and_marks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def catalogue(db):
    """Three active defect codes and a retired one (never offered)."""
    DefectCode.objects.create(code="OLD-CODE", description="Retired code", active=False)
    return [
        DefectCode.objects.create(code=code, description=description)
        for code, description in [
            ("DENT", "Dent in a panel"),
            ("LABEL-MISSING", "Label missing or unreadable"),
            ("SCRATCH", "Scratch on a visible surface"),
        ]
    ]


@pytest.fixture
def outcome_required(settings):
    settings.QC_REQUIRE_OUTCOME = True


def retire(code: str) -> None:
    """A supervisor makes a code inactive, as the admin does (a save: its signal tells the
    process to read the catalogue again)."""
    defect = DefectCode.objects.get(code=code)
    defect.active = False
    defect.save()


def review_of(task) -> dict:
    """The review stored on the assignment that completed `task`."""
    return (
        Assignment.objects.filter(task=task, end_reason=EndReason.COMPLETED)
        .values("outcome", "notes", "defects")
        .get()
    )


def record_complete_bodies(page) -> list:
    """The body of every complete request the page sends from now on (None: no body)."""
    bodies = []

    def record(request):
        if request.method == "POST" and urlsplit(request.url).path.endswith("/complete"):
            bodies.append(json.loads(request.post_data) if request.post_data else None)

    page.on("request", record)
    return bodies


def expect_blank_review(page) -> None:
    expect(page.locator("#defect-list input:checked")).to_have_count(0)
    expect(page.get_by_label("Notes (optional)")).to_have_value("")
    expect(page.locator("#review-error")).to_be_hidden()


def press_tab_until(page, element_id: str, *, key: str = "Tab", limit: int = 30) -> None:
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never reached #{element_id}")


# --- QC_REQUIRE_OUTCOME off: Complete, with an optional verdict ---


def test_complete_carries_an_optional_verdict_notes_and_defect_codes(
    page, make_person, catalogue, assigner
):
    make_person(username="ada")
    first, second = task_create(descriptions=["Inspect weld seams", "Check paint thickness"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, first)

    # Complete as it was, with the review beside it; the catalogue's active codes only.
    expect(page.get_by_role("button", name="Complete")).to_be_visible()
    expect(page.get_by_role("button", name="Pass")).to_have_count(0)
    verdict = page.get_by_role("group", name="Verdict (optional)")
    expect(verdict.get_by_role("radio", name="No verdict")).to_be_checked()
    defects = page.get_by_role("group", name="Defects found (optional)")
    expect(defects.get_by_role("checkbox")).to_have_count(3)
    expect(
        defects.get_by_role("checkbox", name="SCRATCH Scratch on a visible surface")
    ).to_be_visible()
    expect(page.get_by_label("Notes (optional)")).to_have_attribute("maxlength", "2000")
    expect(page.locator("#task-review")).to_be_hidden()  # one review: nothing to count

    bodies = record_complete_bodies(page)
    verdict.get_by_role("radio", name="Fail").check()
    defects.get_by_role("checkbox", name=re.compile("^SCRATCH ")).check()
    defects.get_by_role("checkbox", name=re.compile("^DENT ")).check()
    page.get_by_label("Notes (optional)").fill("  Deep scratch near the left hinge.\n")
    page.get_by_role("button", name="Complete").click()
    expect_task(page, second)
    assert review_of(first) == {
        "outcome": "fail",
        "notes": "Deep scratch near the left hinge.",
        "defects": ["DENT", "SCRATCH"],
    }
    assert Task.objects.get(pk=first.pk).outcome == "fail"
    # The controls are blank again for the next task.
    expect_blank_review(page)
    expect(verdict.get_by_role("radio", name="No verdict")).to_be_checked()

    # Nothing chosen: a bare complete, as before.
    page.get_by_role("button", name="Complete").click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    assert review_of(second) == {"outcome": "", "notes": "", "defects": None}
    assert bodies == [
        {
            "outcome": "fail",
            "notes": "Deep scratch near the left hinge.",
            "defects": ["DENT", "SCRATCH"],
        },
        None,
    ]


def test_a_refused_review_says_why_and_keeps_what_was_typed(page, make_person, catalogue, assigner):
    make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)

    page.get_by_role("radio", name="Pass").check()
    page.get_by_role("checkbox", name=re.compile("^DENT ")).check()
    page.get_by_role("checkbox", name=re.compile("^SCRATCH ")).check()
    page.get_by_label("Notes (optional)").fill("Minor marks only.")
    retire("SCRATCH")  # while the page shows it
    page.get_by_role("button", name="Complete").click()

    error = page.locator("#review-error")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text(
        f"Task #{task.pk} was not completed: the defect code SCRATCH is no longer in use, so "
        "it was taken off your choice. Check the defects, then try again."
    )
    assert Task.objects.get(pk=task.pk).status == TaskStatus.IN_PROGRESS
    # What the person chose and typed is still there; the retired code is gone.
    expect(page.get_by_role("radio", name="Pass")).to_be_checked()
    expect(page.get_by_role("checkbox", name=re.compile("^DENT "))).to_be_checked()
    expect(page.get_by_role("checkbox", name=re.compile("^SCRATCH "))).to_have_count(0)
    expect(page.get_by_label("Notes (optional)")).to_have_value("Minor marks only.")
    expect(page.get_by_role("button", name="Complete")).to_be_focused()

    page.get_by_role("button", name="Complete").click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    assert review_of(task) == {"outcome": "pass", "notes": "Minor marks only.", "defects": ["DENT"]}
    expect_blank_review(page)


def test_the_servers_reason_is_shown_when_the_site_starts_requiring_a_verdict(
    page, make_person, settings, assigner
):
    make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)
    settings.QC_REQUIRE_OUTCOME = True  # switched on while the page was open
    page.get_by_label("Notes (optional)").fill("All twelve welds checked.")
    page.get_by_role("button", name="Complete").click()
    expect(page.locator("#review-error")).to_have_text(
        f'Task #{task.pk} was not completed: Say "pass" or "fail": this site requires a verdict.'
    )
    expect(page.get_by_label("Notes (optional)")).to_have_value("All twelve welds checked.")

    page.get_by_role("radio", name="Pass").check()
    page.get_by_role("button", name="Complete").click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    assert review_of(task) == {
        "outcome": "pass",
        "notes": "All twelve welds checked.",
        "defects": None,
    }


def test_ctrl_enter_in_the_notes_completes_with_the_review(page, make_person, catalogue, assigner):
    make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)
    notes = page.get_by_label("Notes (optional)")
    notes.fill("Looks fine.")
    notes.press("Control+Enter")
    expect(page.locator("#panel-waiting")).to_be_visible()
    assert review_of(task) == {"outcome": "", "notes": "Looks fine.", "defects": None}


def test_the_page_shows_which_review_it_is_and_never_an_earlier_verdict(
    page, make_person, catalogue, assigner
):
    first_reviewer = make_person(username="bob")
    make_person(username="ada")
    (task,) = task_create(tasks=[NewTask("Inspect weld seams", reviews_required=2)])
    person_login(person_id=first_reviewer.pk)
    task_complete(
        task_id=task.pk, person_id=first_reviewer.pk, outcome="fail", notes="Porosity at B3."
    )
    answers = []
    page.on("response", lambda response: answers.append(response))
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)
    expect(page.locator("#task-review")).to_have_text("Review 2 of 2")
    assert "Porosity" not in page.content()
    fetched = [a.json() for a in answers if a.request.resource_type == "fetch"]
    assert "Porosity" not in json.dumps(fetched)
    assert '"fail"' not in json.dumps(fetched)
    expect(page.get_by_role("radio", name="No verdict")).to_be_checked()


# --- QC_REQUIRE_OUTCOME on: Pass and Fail instead of Complete ---


def test_required_verdict_shows_pass_and_fail_and_works_from_the_keyboard_alone(
    page, make_person, catalogue, outcome_required, assigner
):
    make_person(username="ada")
    first, second = task_create(descriptions=["Inspect weld seams", "Check paint thickness"])
    sign_in(page, "ada")
    bodies = record_complete_bodies(page)

    page.evaluate("document.activeElement && document.activeElement.blur()")
    press_tab_until(page, "start")
    page.keyboard.press("Enter")
    expect_task(page, first)
    expect(page.get_by_role("button", name="Complete")).to_have_count(0)
    expect(page.locator("#pref-shortcut")).to_have_count(0)  # one key cannot say which
    expect(page.locator("#shortcut-hint")).to_have_count(0)
    verdict = page.get_by_role("group", name="Your verdict")
    expect(verdict.get_by_role("button", name="Pass")).to_be_visible()
    expect(verdict.get_by_role("button", name="Fail")).to_be_visible()
    expect(page.get_by_role("radio")).to_have_count(0)
    expect(page.get_by_role("button", name="Pass")).to_be_focused()

    # Back to the defect codes and the notes above the buttons, then Tab to Fail and Enter.
    press_tab_until(page, "defect-LABEL-MISSING", key="Shift+Tab")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(page.get_by_role("checkbox", name=re.compile("^SCRATCH "))).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Notes (optional)")).to_be_focused()
    page.keyboard.type("Label torn off.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Pass")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Fail")).to_be_focused()
    expect(page.get_by_role("button", name="Fail")).not_to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Enter")
    expect_task(page, second)
    assert review_of(first) == {
        "outcome": "fail",
        "notes": "Label torn off.",
        "defects": ["LABEL-MISSING"],
    }
    expect_blank_review(page)
    expect(page.get_by_role("button", name="Fail")).to_be_focused()  # the focus stays

    # Ctrl+Enter (in the notes) does nothing here; Tab to Pass and Enter passes.
    expect(page.get_by_role("button", name="Fail")).not_to_have_attribute("aria-disabled", "true")
    press_tab_until(page, "notes", key="Shift+Tab")
    page.keyboard.type("Fine.")
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(300)
    assert Task.objects.get(pk=second.pk).status == TaskStatus.IN_PROGRESS
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Pass")).to_be_focused()
    expect(page.get_by_role("button", name="Pass")).not_to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Enter")
    expect(page.locator("#panel-waiting")).to_be_visible()
    assert review_of(second) == {"outcome": "pass", "notes": "Fine.", "defects": None}
    assert bodies == [
        {"outcome": "fail", "notes": "Label torn off.", "defects": ["LABEL-MISSING"]},
        {"outcome": "pass", "notes": "Fine."},
    ]


def test_a_press_on_pass_the_moment_a_task_appears_is_not_a_verdict(
    page, make_person, outcome_required, assigner
):
    make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    # The page is ready for work (its script has set it up) before the script below clicks.
    expect(page.locator("#start")).to_be_visible()
    expect(page.locator("#start")).to_be_enabled()
    # Start work, and press Pass as soon as the task shows (a held or doubled Enter). An
    # evaluate waits without a timeout of its own: the promise gives up after 5 s.
    pressed = page.evaluate(
        """() => new Promise((resolve) => {
            const observer = new MutationObserver(() => {
                observer.disconnect();
                document.getElementById("pass").click();
                resolve(true);
            });
            observer.observe(document.getElementById("task-id"), {childList: true, subtree: true});
            setTimeout(() => { observer.disconnect(); resolve(false); }, 5000);
            document.getElementById("start").click();
        })"""
    )
    assert pressed, "the task never showed after Start work"
    expect_task(page, task)
    page.wait_for_timeout(700)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.IN_PROGRESS
    expect(page.get_by_role("button", name="Pass")).not_to_have_attribute("aria-disabled", "true")
    page.get_by_role("button", name="Pass").click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    assert review_of(task)["outcome"] == "pass"


def test_with_no_defect_codes_the_catalogue_is_not_shown(page, make_person, outcome_required):
    make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)
    expect(page.locator("#defects")).to_be_hidden()
    page.get_by_role("button", name="Pass").click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    assert review_of(task) == {"outcome": "pass", "notes": "", "defects": None}


# --- accessibility, keyboard and looks, in each mode ---


@pytest.fixture(params=["complete", "pass-fail"])
def mode(request, settings):
    settings.QC_REQUIRE_OUTCOME = request.param == "pass-fail"
    return request.param


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_in_the_review_controls(
    browser, live_server, make_person, catalogue, assigner, axe, mode, scheme
):
    make_person("Ada Lovelace", username="ada")
    (task,) = task_create(tasks=[NewTask("Inspect weld seams", reviews_required=2)])
    context = browser.new_context(
        base_url=live_server.url, viewport=LAPTOP, locale="en-GB", color_scheme=scheme
    )
    context.set_default_timeout(5_000)
    page = context.new_page()
    found = {}
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)
    expect(page.locator("#task-review")).to_be_visible()
    found["working"] = axe(page)

    page.get_by_role("checkbox", name=re.compile("^SCRATCH ")).check()
    page.get_by_label("Notes (optional)").fill("Deep scratch.")
    retire("SCRATCH")
    page.locator("#complete, #fail").first.click()
    expect(page.locator("#review-error")).to_be_visible()
    found["refused"] = axe(page)

    page.set_viewport_size(PHONE)
    found["phone"] = axe(page)
    context.close()
    assert {state: v for state, v in found.items() if v} == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_review_control_is_reachable_by_tab_with_a_visible_focus_ring(
    browser, live_server, make_person, catalogue, assigner, mode, scheme
):
    make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    context = browser.new_context(
        base_url=live_server.url, viewport=LAPTOP, locale="en-GB", color_scheme=scheme
    )
    context.set_default_timeout(5_000)
    page = context.new_page()
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)
    check_keyboard_and_marks(page)
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_review_controls_fit_a_laptop_and_a_phone(
    browser, live_server, make_person, catalogue, assigner, mode, scheme, tmp_path
):
    """Screenshots in `tmp_path` (pytest's --basetemp puts them where wanted), and nothing
    wider than the screen."""
    make_person("Ada Lovelace", username="ada")
    (task,) = task_create(
        tasks=[
            NewTask(
                "Batch 2417 · frame welds, line 3\nInspect the 12 corner welds of pallet B for "
                "porosity and undercut.",
                reviews_required=2,
            )
        ]
    )
    context = browser.new_context(
        base_url=live_server.url, viewport=LAPTOP, locale="en-GB", color_scheme=scheme
    )
    context.set_default_timeout(5_000)
    page = context.new_page()
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)
    page.get_by_role("checkbox", name=re.compile("^SCRATCH ")).check()
    page.get_by_label("Notes (optional)").fill("Scratch along the left rail, about 4 cm.")
    page.locator("#task-description").click()  # no focus ring in the picture
    for name, size in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = tmp_path / f"portal-review-{mode}-{name}-{scheme}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]

    # A refused review, its reasons above the buttons.
    retire("SCRATCH")
    page.set_viewport_size(LAPTOP)
    page.locator("#complete, #fail").first.click()
    expect(page.locator("#review-error")).to_be_visible()
    page.locator("#task-description").click()
    page.screenshot(path=str(tmp_path / f"portal-review-{mode}-refused-{scheme}.png"))
    context.close()

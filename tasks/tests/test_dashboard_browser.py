"""The supervisor dashboard in a real browser (Debian's Chromium through Playwright).

The screenshot for the README is written to `docs/screenshots/dashboard.png` only when
UPDATE_SCREENSHOTS=1 is set, so an ordinary test run leaves the working tree clean.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models.functions import Now

# Playwright's sync API runs an event loop in this thread; it only drives the browser.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import expect  # noqa: E402

from personnel.models import Person  # noqa: E402
from qcproject.db import db_now  # noqa: E402
from tasks import counters  # noqa: E402
from tasks.assigner import assigner_claim, assigner_report  # noqa: E402
from tasks.models import Assignment, AuditEvent, Task, TaskStatus  # noqa: E402
from tasks.services import task_complete, task_create
from tasks.sessions import person_login  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "dashboard.png"
PEOPLE = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra"]
TASKS = [
    "Inspect weld seams on frame batch F-2291",
    "Verify wheel-hub bolt torque, lot H-0417",
    "Check label print quality on carton run C-8812",
    "Measure bore diameter of pump housings, lot B-3301",
    "Leak-test valve assemblies from lot V-219",
    "Inspect solder joints on PCB batch 4470",
    "Measure paint film thickness on panel run P-552",
    "Review first-article report for part 7731-A",
]


def history(person, *, hours: int = 30) -> None:
    """Completed tasks over the past day and more, an hour at a time, busier in the day's
    middle, with waits that grow when it is busy: what the charts draw."""
    import math

    now = db_now()
    tasks, assignments = [], []
    for h in range(3, hours):
        start = now - timedelta(hours=h)
        load = 6 + int(8 * (1 + math.sin(h / 24 * 2 * math.pi)))
        for n in range(load):
            created = start + timedelta(minutes=n * 50 / load)
            wait = timedelta(seconds=20 + 25 * load + 7 * n)
            tasks.append(
                Task(
                    description=f"Inspect lot H{h}-{n}",
                    status=TaskStatus.COMPLETED,
                    reviews_done=1,
                    assigned_to=person,
                    created_at=created,
                    first_assigned_at=created + wait,
                )
            )
    Task.objects.bulk_create(tasks)
    for task in Task.objects.filter(description__startswith="Inspect lot H"):
        done = task.first_assigned_at + timedelta(minutes=4)
        assignments.append(
            Assignment(
                task=task,
                person=person,
                source="ASSIGNER",
                assigned_at=task.first_assigned_at,
                completed_at=done,
                ended_at=done,
                end_reason="COMPLETED",
            )
        )
    Assignment.objects.bulk_create(assignments)


@pytest.fixture
def shift(make_person, supervisor):
    """A shift in progress: four people working, one signed out, a queue, some history."""
    people = [make_person(name) for name in PEOPLE]
    history(people[4])
    tasks = task_create(descriptions=TASKS)
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(
        created_at=Now() - timedelta(minutes=14)
    )
    for person in people[:4]:
        person_login(person_id=person.pk)
    for person in people[:3]:
        Assignment.objects.filter(open_person=person.pk).update(
            assigned_at=Now() - timedelta(minutes=6)
        )
        task_complete(
            task_id=Task.objects.get(in_progress_person=person.pk).pk, person_id=person.pk
        )
    assigner_claim(name="qc-app-1:4121")
    assigner_report(name="qc-app-1:4121", seconds=0.012, assigned=4, released=0)
    counters.rebuild_hours()  # the hourly counts as if it had happened at the times written
    return people


def sign_in(page, live_server):
    page.goto(f"{live_server.url}/admin/login/?next=/admin/tasks/task/dashboard/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()


def test_dashboard_shows_the_shift_and_signs_a_person_out(browser, live_server, shift):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(5_000)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        expect(page.get_by_role("heading", name="Supervisor dashboard")).to_be_visible()
        expect(page.locator("#qc-pending")).to_have_text("1")
        expect(page.locator("#qc-in-progress")).to_have_text("4")
        expect(page.locator("#qc-working")).to_have_text("4")
        expect(page.locator("#qc-signed-out")).to_have_text("1")
        expect(page.locator("#qc-completed")).to_have_text("3")
        expect(page.locator("#qc-people-table")).to_contain_text("Ada Lovelace")
        expect(page.get_by_text("qc-app-1:4121")).to_be_visible()
        if os.environ.get("UPDATE_SCREENSHOTS"):
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

        page.get_by_role("button", name="Sign out Katherine Johnson").click()

        expect(page.get_by_text("Katherine Johnson is signed out")).to_be_visible()
        assert page.url.endswith("/admin/tasks/task/dashboard/")
        expect(page.locator("#qc-working")).to_have_text("3")
        expect(page.locator("#qc-pending")).to_have_text("2")
        katherine = Person.objects.get(name="Katherine Johnson")
        assert not katherine.is_logged_in
        event = AuditEvent.objects.get()
        assert (event.actor_username, event.person_id) == ("boss", katherine.pk)
        assert Task.objects.filter(status=TaskStatus.PENDING).count() == 2
    finally:
        context.close()


def test_dashboard_refreshes_without_a_reload_and_pauses(browser, live_server, shift, monkeypatch):
    monkeypatch.setattr("tasks.admin.dashboard.REFRESH_SECONDS", 1)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(8_000)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        expect(page.locator("#qc-pending")).to_have_text("1")
        # The charts are drawn (uPlot, served by the project) with the hours' figures.
        expect(page.locator("#qc-chart-flow canvas")).to_have_count(1)
        expect(page.locator("#qc-chart-wait canvas")).to_have_count(1)
        page.evaluate("window.qcNotReloaded = true")
        page.mouse.move(0, 0)
        task_create(descriptions=["Arrived while the supervisor watched"])
        expect(page.locator("#qc-pending")).to_have_text("2")
        expect(page.locator("#qc-updated")).to_contain_text("Updated")
        assert page.evaluate("window.qcNotReloaded") is True

        page.get_by_role("button", name="Pause").click()
        expect(page.locator("#qc-updated")).to_contain_text("Paused")
        task_create(descriptions=["Arrived during the pause"])
        page.wait_for_timeout(2_500)
        expect(page.locator("#qc-pending")).to_have_text("2")
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("#qc-pending")).to_have_text("3")

        # The 7-day span redraws from the same figures; the window links fetch, not reload.
        page.get_by_role("button", name="7 days").click()
        expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
        page.get_by_role("link", name="Last 7 days").click()
        expect(page.locator("#qc-completed")).not_to_have_text("3")
        assert page.url.endswith("?window=week")
        assert page.evaluate("window.qcNotReloaded") is True

        # Someone signs in meanwhile: their row appears, with its buttons working.
        person = Person.objects.get(name="Edsger Dijkstra")
        person_login(person_id=person.pk)
        row = page.locator(f'#qc-people-table tr[data-person="{person.pk}"]')
        expect(row).to_contain_text("Edsger Dijkstra")
        row.get_by_role("button", name="Sign out Edsger Dijkstra").click()
        expect(page.get_by_text("Edsger Dijkstra is signed out")).to_be_visible()
        assert not Person.objects.get(pk=person.pk).is_logged_in
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_on_the_dashboard(browser, live_server, shift, axe, scheme):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", color_scheme=scheme
    )
    context.set_default_timeout(5_000)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        expect(page.locator("#qc-people-table")).to_contain_text("Ada Lovelace")
        # The refresh can be paused (WCAG 2.2.1): a script's, not a meta refresh.
        assert axe(page) == []
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("button", name="Resume")).to_be_visible()
        assert axe(page) == []
    finally:
        context.close()


def test_assignment_list_fits_1280_px(browser, live_server, shift):
    # The longest things the list shows: a long description, a long name, every date set.
    person = Person.objects.get(name="Katherine Johnson")
    Person.objects.filter(pk=person.pk).update(name="Katherine Coleman Goble Johnson-Smythe")
    (long_task,) = task_create(
        descriptions=["Check packaging and labelling of order SO-10482 against the customer spec"]
    )
    Task.objects.filter(pk=long_task.pk).update(
        status=TaskStatus.COMPLETED,
        reviews_done=1,
        assigned_to=person,
        first_assigned_at=Now(),
    )
    Assignment.objects.create(
        task=long_task,
        person=person,
        source="SUPERVISOR",
        completed_at=Now(),
        ended_at=Now(),
        end_reason="COMPLETED",
        # The longest review the list shows: a verdict, several codes, long notes.
        outcome="fail",
        defects=["LABEL-MISSING", "PACKAGING-DAMAGED", "WRONG-QUANTITY"],
        notes="Outer carton crushed at one corner; two labels missing on the inner packs",
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_server)
        page.goto(f"{live_server.url}/admin/tasks/assignment/")
        expect(page.locator("#result_list")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, width
        # Nor does the table scroll sideways inside its box.
        results = page.locator("#changelist .results")
        overflow = results.evaluate("el => el.scrollWidth - el.clientWidth")
        if os.environ.get("UPDATE_SCREENSHOTS"):
            page.screenshot(path="/tmp/assignments-1280.png", full_page=True)
        assert overflow <= 0, overflow
    finally:
        context.close()


def test_dashboard_speaks_the_browsers_language(browser, live_server, shift):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    context.set_default_timeout(5_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/tasks/task/dashboard/")
        page.locator("#id_username").fill("boss")
        page.locator("#id_password").fill("correct-horse-battery")
        page.locator("#login-form [type=submit]").click()
        expect(page.get_by_role("heading", name="Warteschlange")).to_be_visible()
        expect(page.locator("#qc-people-table")).to_contain_text("Aktuelle Aufgabe")
        expect(page.get_by_role("link", name="Letzte 7 Tage")).to_be_visible()
        expect(page.get_by_role("button", name="Katherine Johnson abmelden")).to_be_visible()
    finally:
        context.close()


def test_dashboard_script_writes_in_the_pages_language(browser, live_server, shift, monkeypatch):
    """What the script writes after a refresh (times, buttons of a new row, the pause, the
    charts' legends, numbers) is in the page's language, from the JavaScript catalog."""
    monkeypatch.setattr("tasks.admin.dashboard.REFRESH_SECONDS", 1)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="es-ES")
    context.set_default_timeout(8_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/tasks/task/dashboard/")
        page.locator("#id_username").fill("boss")
        page.locator("#id_password").fill("correct-horse-battery")
        page.locator("#login-form [type=submit]").click()
        page.mouse.move(0, 0)
        expect(page.locator("#qc-updated")).to_contain_text("Actualizado hace")
        expect(page.locator("#qc-as-of")).to_have_text(
            re.compile(r"^A fecha de \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\)$")
        )
        expect(page.locator("#qc-chart-flow .u-legend")).to_contain_text("Creadas")
        expect(page.locator("#qc-chart-flow .u-legend")).to_contain_text("Completadas")
        expect(page.locator("#qc-chart-wait .u-legend")).to_contain_text("Mediana")
        # The assigner's cycle, as the script writes it: a decimal comma.
        expect(page.locator("#qc-assigners-table tbody td").nth(1)).to_have_text("0,012 s")

        person = Person.objects.get(name="Edsger Dijkstra")
        person_login(person_id=person.pk)
        row = page.locator(f'#qc-people-table tr[data-person="{person.pk}"]')
        expect(
            row.get_by_role("button", name="Cerrar la sesión de Edsger Dijkstra")
        ).to_be_visible()
        expect(row.locator(".qc-heartbeat")).to_have_text(re.compile(r"^hace \d+ s$"))
        held = Task.objects.get(in_progress_person=person.pk)
        expect(
            row.get_by_role("button", name=f"Devolver la tarea {held.pk} a la cola")
        ).to_have_text("Devolver tarea")

        page.get_by_role("button", name="Pausar").click()
        expect(page.get_by_role("button", name="Reanudar")).to_be_visible()
        expect(page.locator("#qc-updated")).to_contain_text("En pausa; actualizado hace")
    finally:
        context.close()


@pytest.fixture
def reviewed_shift(shift):
    """The shift, with reviews in the last hour: Grace and Alan agree on a pass, Grace
    fails one with a dent, Edsger and Ada disagree on one (it waits, disputed)."""
    from tasks.models import DefectCode

    grace, alan, edsger, ada = (
        Person.objects.get(name=n)
        for n in ("Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Ada Lovelace")
    )
    DefectCode.objects.create(code="SCRATCH", description="Scratch on a visible surface")
    DefectCode.objects.create(code="DENT", description="Dent deeper than 0.5 mm")
    now = db_now()

    def reviewed(description, status, outcome, reviews):
        task = Task.objects.create(
            description=description,
            status=status,
            outcome=outcome,
            reviews_required=len(reviews),
            reviews_done=len(reviews),
            created_at=now - timedelta(minutes=50),
            first_assigned_at=now - timedelta(minutes=45),
        )
        for minutes, (person, verdict, defects) in zip((30, 20), reviews, strict=False):
            done = now - timedelta(minutes=minutes)
            Assignment.objects.create(
                task=task,
                person=person,
                source="ASSIGNER",
                assigned_at=done - timedelta(minutes=4),
                completed_at=done,
                ended_at=done,
                end_reason="COMPLETED",
                outcome=verdict,
                defects=defects,
            )
        return task

    reviewed(
        "Inspect rivets, lot R-77",
        "COMPLETED",
        "pass",
        [(grace, "pass", None), (alan, "pass", None)],
    )
    reviewed("Inspect hinge, lot K-12", "COMPLETED", "fail", [(grace, "fail", ["DENT"])])
    disputed = reviewed(
        "Inspect panel finish, run P-553",
        "DISPUTED",
        "",
        [(edsger, "pass", None), (ada, "fail", ["SCRATCH", "DENT"])],
    )
    counters.rebuild_hours()
    return disputed


def test_dashboard_shows_the_reviews_and_refreshes_them(
    browser, live_server, reviewed_shift, monkeypatch, supervisor, axe, tmp_path
):
    from tasks.interventions import task_resolve

    monkeypatch.setattr("tasks.admin.dashboard.REFRESH_SECONDS", 1)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(8_000)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        expect(page.get_by_role("heading", name="Reviews", exact=True)).to_be_visible()
        expect(page.locator("#qc-reviews-pass")).to_have_text("3")
        expect(page.locator("#qc-reviews-fail")).to_have_text("2")
        expect(page.locator("#qc-fail-rate")).to_have_text("40%")
        expect(page.locator("#qc-disputes")).to_have_text("1")
        defects = page.locator("#qc-top-defects tbody tr")
        expect(defects.first).to_contain_text("DENT")
        expect(defects.first).to_contain_text("Dent deeper than 0.5 mm")
        expect(defects.first).to_contain_text("2")
        reviewers = page.locator("#qc-reviewers")
        expect(reviewers).to_contain_text("Grace Hopper")
        grace = Person.objects.get(name="Grace Hopper")
        row = reviewers.locator(f'tr[data-person="{grace.pk}"]')  # and a complete without verdict
        expect(row).to_have_text(re.compile(r"Grace Hopper\s*3\s*50%\s*100% of 1"))
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.locator("#qc-outcomes").scroll_into_view_if_needed()
        page.screenshot(path=tmp_path / "dashboard-reviews-1280.png", full_page=True)
        assert axe(page) == []  # the disputes card in its alarming state too

        # Resolved meanwhile: the refresh says so without a reload.
        page.mouse.move(0, 0)
        task_resolve(actor=supervisor, task_id=reviewed_shift.pk, outcome="fail", note="Scratch")
        expect(page.locator("#qc-disputes")).to_have_text("0")
        expect(page.locator("#qc-disputes-card")).not_to_have_class(re.compile("qc-attention"))

        page.locator("#qc-disputes-card").click()
        assert page.url.endswith("/admin/tasks/task/?status__exact=DISPUTED")
        expect(page.locator("#changelist")).to_be_visible()
    finally:
        context.close()

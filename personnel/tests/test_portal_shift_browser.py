"""The QC portal for a whole shift, in Chromium: notice (title, favicon, sound, desktop
notification), keyboard, accessibility (axe-core, focus, contrast), languages, the
change-password pages, dark mode, and the README's screenshots.

The screenshots are written to `docs/screenshots/portal-<state>-<scheme>.png` only when
UPDATE_SCREENSHOTS=1 is set, so an ordinary test run leaves the working tree clean.
"""

import os
import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.contrib.auth import get_user_model
from django.db.models.functions import Now
from playwright.sync_api import expect

from personnel.models import Person
from tasks.models import Assignment, Task
from tasks.services import task_create
from tasks.sessions import person_login, person_logout

from .browser import PASSWORD, ROOT, expect_task, sign_in, start_work

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ROOT / "docs" / "screenshots"

# A hidden tab, as the page sees it. Headless Chromium keeps every page visible, so the test
# decides what `document.visibilityState` says and fires `visibilitychange` itself. It also
# records the desktop notifications the page shows and the tones it plays.
HIDDEN_TAB_AND_RECORDERS = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get() { return hidden ? "hidden" : "visible"; },
  });
  Object.defineProperty(Document.prototype, "hidden", {
    configurable: true, get() { return hidden; },
  });
  window.setTabHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.shownNotifications = [];
  const RealNotification = window.Notification;
  window.Notification = class extends RealNotification {
    constructor(title, options) {
      window.shownNotifications.push({ title, body: options && options.body });
      super(title, options);
    }
    static get permission() { return RealNotification.permission; }
    static requestPermission() { return RealNotification.requestPermission(); }
  };
  window.tonesPlayed = 0;
  const createOscillator = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () {
    window.tonesPlayed++;
    return createOscillator.call(this);
  };
})();
"""

# WCAG's contrast ratio of the focused element's outline against what surrounds it (sampled
# just outside the ring, left and above, where the page is), its width and style, and
# whether it is inside the viewport.
FOCUS_RING = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (c) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const backgroundOf = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const el = document.activeElement;
  if (!el || el === document.body) return { name: "BODY" };
  const style = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  const reach = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth) + 2;
  const ring = parse(style.outlineColor);
  const ratios = [
    [rect.left - reach, rect.top + rect.height / 2],
    [rect.left + rect.width / 2, rect.top - reach],
  ]
    .filter(([x, y]) => x >= 0 && y >= 0 && x < innerWidth && y < innerHeight)
    .map(([x, y]) => {
      const under = document.elementsFromPoint(x, y).find((e) => e !== el && !el.contains(e));
      return ratio(ring, backgroundOf(under || document.body));
    });
  return {
    name: el.id || el.getAttribute("name") || el.textContent.trim().slice(0, 30) || el.tagName,
    style: style.outlineStyle,
    width: parseFloat(style.outlineWidth),
    ratio: ratios.length ? Math.min(...ratios) : null,
    inView: rect.bottom > 0 && rect.top < innerHeight && rect.right > 0 && rect.left < innerWidth,
  };
}
"""

# Every visible control of the page that takes the keyboard focus; a radio group once, at
# its checked radio (Tab reaches the group, the arrow keys move within it).
FOCUSABLE = """
() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])'
  )]
  .filter((e) => !e.disabled && e.checkVisibility() && !e.closest("[hidden]"))
  .filter((e) => e.type !== "radio" || e.checked)
  .map((e) => e.id || e.getAttribute("name") || e.textContent.trim().slice(0, 30) || e.tagName)
"""

# The border of each text field, select and outlined button against the background behind it.
CONTROL_BORDERS = """
() => {
  const parse = (c) => {
    const p = c.match(/rgba?\\(([^)]+)\\)/)[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (c) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const backgroundOf = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  return [...document.querySelectorAll(
      'input[type=text], input[type=password], select, textarea, .button-quiet'
    )]
    .filter((e) => e.checkVisibility() && !e.closest("[hidden]"))
    .map((e) => {
      const border = parse(getComputedStyle(e).borderTopColor);
      const x = lum(border), y = lum(backgroundOf(e.parentElement));
      const name = e.id || e.name || e.textContent.trim();
      return [name, (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05)];
    });
}
"""


@pytest.fixture
def context_for(browser, live_server):
    """Makes browser contexts (light or dark, a locale, notifications allowed or not)."""
    contexts = []

    def make(*, scheme="light", locale="en-GB", notifications=False, recorders=False):
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": 1280, "height": 800},
            locale=locale,
            color_scheme=scheme,
        )
        context.set_default_timeout(5_000)
        if notifications:
            context.grant_permissions(["notifications"], origin=live_server.url)
        if recorders:
            context.add_init_script(HIDDEN_TAB_AND_RECORDERS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def favicon_state(page) -> str:
    """The state drawn in the favicon, read from the SVG the page put in its icon link."""
    href = page.locator("#favicon").get_attribute("href")
    assert href.startswith("data:image/svg+xml,")
    return re.search(r'data-state="([^"]+)"', unquote(href)).group(1)


def expect_favicon(page, state: str) -> None:
    expect(page.locator("#favicon")).to_have_attribute("data-state", state)
    assert favicon_state(page) == state


def expire_session(page, person) -> None:
    """The work session ends elsewhere; the page learns it from its next request."""
    person_logout(person_id=person.pk)
    # Complete is that request, unless a heartbeat got there first and the button is gone
    # already: a dispatched click is the same request either way, and never waits for it.
    page.locator("#complete").dispatch_event("click")
    expect(page.locator("#panel-expired")).to_be_visible()
    expect(page.locator("#expired-text")).not_to_be_empty()


def serve_503_to_heartbeats(page, person) -> str:
    pattern = f"**/personnel/{person.pk}/heartbeat"
    page.route(
        pattern,
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "30"},
            json={"detail": "The database is unavailable; retry shortly.", "code": "unavailable"},
        ),
    )
    page.evaluate("window.dispatchEvent(new Event('online'))")  # as after waking from sleep
    expect(page.locator("#connection")).to_be_visible()
    return pattern


# --- notice: title, favicon, sound, desktop notification ---


def test_title_and_favicon_show_the_state_and_change_when_a_task_arrives(
    context_for, make_person, assigner
):
    person = make_person(username="ada")
    page = context_for().new_page()
    sign_in(page, "ada")
    expect(page).to_have_title("Not working — qc-assign")
    expect_favicon(page, "idle")

    start_work(page)  # the queue is empty
    expect(page).to_have_title("Waiting (0 in queue) — qc-assign")
    expect_favicon(page, "waiting")

    (task,) = task_create(descriptions=["Inspect weld seams"])
    expect(page).to_have_title(f"● Task #{task.pk} — qc-assign")  # by itself, on arrival
    expect_favicon(page, "working")
    # The icon is an image the browser can draw.
    width = page.evaluate(
        """() => new Promise((resolve) => {
            const image = new Image();
            image.onload = () => resolve(image.naturalWidth);
            image.onerror = () => resolve(0);
            image.src = document.getElementById("favicon").href;
        })"""
    )
    assert width > 0

    heartbeats = serve_503_to_heartbeats(page, person)
    expect(page).to_have_title("Reconnecting… — qc-assign")
    expect_favicon(page, "reconnecting")
    page.unroute(heartbeats)
    page.locator("#retry-now").click()
    expect(page).to_have_title(f"● Task #{task.pk} — qc-assign")
    expect_favicon(page, "working")

    expire_session(page, person)
    expect(page).to_have_title("Session ended — qc-assign")
    expect_favicon(page, "expired")


def test_opted_in_browser_plays_a_sound_and_notifies_when_a_task_arrives_in_a_hidden_tab(
    context_for, make_person, assigner
):
    make_person(username="ada")
    context = context_for(notifications=True, recorders=True)
    page = context.new_page()
    sign_in(page, "ada")
    alerts = page.locator("#pref-alerts")
    expect(alerts).not_to_be_checked()  # off until asked for
    alerts.check()
    expect(page.locator("#alerts-status")).to_be_empty()  # notifications are allowed
    start_work(page)
    expect(page.locator("#panel-waiting")).to_be_visible()

    page.evaluate("setTabHidden(true)")  # the person went to another tab
    (first,) = task_create(descriptions=["Inspect weld seams on frame batch 2417"])
    page.wait_for_function("() => window.shownNotifications.length === 1")
    assert page.evaluate("shownNotifications") == [
        {"title": f"New task #{first.pk}", "body": first.description}
    ]
    assert page.evaluate("tonesPlayed") == 2
    expect(page).to_have_title(f"● Task #{first.pk} — qc-assign")

    # Back on the tab: a task that arrives while the person looks at it makes no noise.
    page.evaluate("setTabHidden(false)")
    page.locator("#complete").click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    (second,) = task_create(descriptions=["Check paint thickness"])
    expect_task(page, second)
    assert page.evaluate("[shownNotifications.length, tonesPlayed]") == [1, 2]

    # Remembered by this browser: another page (or tomorrow's) starts opted in.
    again = context.new_page()
    again.goto("/")
    expect(again.locator("#pref-alerts")).to_be_checked()


def test_alerts_stay_silent_unless_opted_in_and_say_when_notifications_are_blocked(
    context_for, make_person, assigner
):
    make_person(username="ada")
    page = context_for(recorders=True).new_page()  # the browser blocks notifications
    sign_in(page, "ada")
    start_work(page)
    expect(page.locator("#panel-waiting")).to_be_visible()
    page.evaluate("setTabHidden(true)")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    expect(page).to_have_title(f"● Task #{task.pk} — qc-assign")
    assert page.evaluate("[shownNotifications.length, tonesPlayed]") == [0, 0]

    page.evaluate("setTabHidden(false)")
    page.evaluate(
        "() => { Object.defineProperty(Notification, 'permission', {get: () => 'denied'}); }"
    )
    page.locator("#pref-alerts").check()
    expect(page.locator("#alerts-status")).to_have_text(
        "Desktop notifications are blocked for this site in the browser's settings; "
        "the sound still plays."
    )


# --- keyboard ---


def test_ctrl_enter_completes_from_anywhere_and_can_be_switched_off(
    context_for, make_person, assigner
):
    make_person(username="ada")
    tasks = task_create(descriptions=["one", "two", "three", "four"])
    context = context_for()
    page = context.new_page()
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, tasks[0])
    complete = page.locator("#complete")
    hint = page.locator("#shortcut-hint")
    expect(hint).to_be_visible()
    expect(hint).to_have_text("or press Ctrl + Enter")
    expect(complete).to_have_attribute("aria-keyshortcuts", "Control+Enter")

    # Focus on another control: the shortcut completes, and that control is not pressed.
    page.locator("#stop").focus()
    page.keyboard.press("Control+Enter")
    expect_task(page, tasks[1])
    expect(page.locator("#state-text")).to_have_text("Working")
    expect(page.locator("#stop")).to_be_focused()
    # Focus nowhere in particular (after a click on the text); ⌘+Enter does it as well.
    page.locator("#task-description").click()
    expect(complete).not_to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Meta+Enter")
    expect_task(page, tasks[2])

    page.locator("#pref-shortcut").uncheck()
    expect(hint).to_be_hidden()
    expect(complete).not_to_have_attribute("aria-keyshortcuts", re.compile(".*"))
    expect(complete).not_to_have_attribute("aria-disabled", "true")
    page.locator("#task-description").click()
    page.keyboard.press("Control+Enter")
    # A key handler runs while the key is pressed: a complete would have started by now.
    assert page.locator("#complete").get_attribute("aria-disabled") is None
    expect_task(page, tasks[2])

    # The choice is remembered by the browser.
    page.reload()
    expect_task(page, tasks[2])
    expect(page.locator("#pref-shortcut")).not_to_be_checked()
    expect(hint).to_be_hidden()


def tab_through(page) -> list[dict]:
    """Presses Tab from the top of the page until the focus comes round again; the focus
    ring of each control reached."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        if seen and ring["name"] == seen[0]["name"]:
            break
        if ring["name"] != "BODY":
            seen.append(ring)
    return seen


def check_keyboard_and_marks(page) -> None:
    rings = tab_through(page)
    reached = [ring["name"] for ring in rings]
    assert sorted(reached) == sorted(page.evaluate(FOCUSABLE))
    for ring in rings:
        assert ring["style"] != "none" and ring["width"] >= 2, ring
        assert ring["ratio"] is not None and ring["ratio"] >= 3, ring
        assert ring["inView"], ring
    for name, ratio in page.evaluate(CONTROL_BORDERS):
        assert ratio >= 3, (name, ratio)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_control_is_reachable_by_tab_with_a_visible_focus_ring(
    context_for, make_person, assigner, scheme
):
    make_person(username="ada")
    task_create(descriptions=["Inspect weld seams", "Check paint thickness"])
    page = context_for(scheme=scheme).new_page()
    page.goto("/accounts/login/")
    check_keyboard_and_marks(page)
    sign_in(page, "ada")
    expect(page.locator("#panel-idle")).to_be_visible()
    check_keyboard_and_marks(page)
    start_work(page)
    expect(page.locator("#panel-working")).to_be_visible()
    check_keyboard_and_marks(page)
    page.locator("a[href='/accounts/password_change/']").click()
    check_keyboard_and_marks(page)


# --- accessibility: axe-core in every state ---


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_in_any_state_of_the_portal_or_on_the_sign_in_pages(
    context_for, make_person, assigner, axe, scheme
):
    person = make_person("Ada Lovelace", username="ada")
    page = context_for(scheme=scheme).new_page()
    found = {}

    page.goto("/accounts/login/?next=/")
    found["sign-in"] = axe(page)
    page.locator("#id_username").fill("ada")
    page.locator("#id_password").fill("wrong")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator("#login-error")).to_be_visible()
    found["sign-in with an error"] = axe(page)

    sign_in(page, "ada")
    expect(page.locator("#panel-idle")).to_be_visible()
    found["not working"] = axe(page)
    start_work(page)
    expect(page.locator("#panel-waiting")).to_be_visible()
    expect(page.locator("#queue-size")).to_be_visible()
    found["waiting"] = axe(page)
    (task,) = task_create(descriptions=["Inspect weld seams"])
    expect_task(page, task)
    found["working"] = axe(page)
    heartbeats = serve_503_to_heartbeats(page, person)
    found["reconnecting"] = axe(page)
    page.unroute(heartbeats)
    page.locator("#retry-now").click()
    expect(page.locator("#connection")).to_be_hidden()
    page.context.clear_cookies()  # the Django session ended
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#panel-signed-out")).to_be_visible()
    found["signed out"] = axe(page)
    sign_in(page, "ada")
    expect_task(page, task)  # the work session outlived the Django one
    expire_session(page, person)
    found["session ended"] = axe(page)

    page.goto("/accounts/password_change/")
    found["change password"] = axe(page)
    page.locator("#id_old_password").fill("wrong")
    page.locator("#id_new_password1").fill("short")
    page.locator("#id_new_password2").fill("other")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator(".errorlist").first).to_be_visible()
    found["change password with errors"] = axe(page)

    assert {state: v for state, v in found.items() if v} == {}


def test_axe_finds_nothing_on_the_pages_for_supervisors_and_other_accounts(
    context_for, supervisor, axe
):
    get_user_model().objects.create_user(username="visitor", password=PASSWORD)
    found = {}
    for scheme in ("light", "dark"):
        page = context_for(scheme=scheme).new_page()
        sign_in(page, "boss")
        expect(page.locator("#supervisor-title")).to_be_visible()
        found[f"supervisor, {scheme}"] = axe(page)
        page.context.clear_cookies()
        page.goto("/accounts/login/?next=/")
        page.locator("#id_username").fill("visitor")
        page.locator("#id_password").fill(PASSWORD)
        page.locator("form.form button[type=submit]").click()
        expect(page.locator("#none-title")).to_be_visible()
        found[f"no QC work, {scheme}"] = axe(page)
    assert {state: v for state, v in found.items() if v} == {}


# --- account: change password ---


def test_person_changes_their_password_from_the_portal_header_and_stays_at_work(
    context_for, make_person, assigner
):
    person = make_person(username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    page = context_for().new_page()
    sign_in(page, "ada")
    start_work(page)
    expect_task(page, task)

    page.get_by_role("link", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password_change/$"))
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()
    page.get_by_label("Old password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("a-new-long-passphrase")
    page.get_by_label("New password confirmation").fill("a-new-long-passphrase")
    page.get_by_role("button", name="Change my password").click()
    expect(page.locator("#id_old_password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_old_password_error")).to_contain_text("incorrectly")

    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-new-long-passphrase")
    page.get_by_label("New password confirmation").fill("a-new-long-passphrase")
    page.get_by_role("button", name="Change my password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password_change/done/$"))
    expect(page.get_by_role("heading", name="Your password was changed")).to_be_visible()
    page.get_by_role("link", name="Back to work").click()
    expect_task(page, task)  # still signed in, the task still hers
    person.user.refresh_from_db()
    assert person.user.check_password("a-new-long-passphrase")


# --- languages ---


def test_language_chooser_shows_the_portal_in_german_and_is_remembered(
    context_for, make_person, assigner
):
    make_person("Ada Lovelace", username="ada")
    (task,) = task_create(descriptions=["Inspect weld seams"])
    context = context_for()  # an English browser
    page = context.new_page()
    sign_in(page, "ada")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Switch language").click()

    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Bereit zur Arbeit, Ada Lovelace?")).to_be_visible()
    expect(page.locator("#state-text")).to_have_text("Nicht bei der Arbeit")  # the script's
    expect(page).to_have_title("Nicht bei der Arbeit — qc-assign")
    page.get_by_role("button", name="Arbeit beginnen").click()
    expect_task(page, task)
    notice = f"Arbeit begonnen. Aufgabe #{task.pk} gehört Ihnen."
    expect(page.locator("#notice")).to_have_text(notice)
    expect(page).to_have_title(f"● Aufgabe #{task.pk} — qc-assign")
    expect(page.locator("#shortcut-hint")).to_have_text("oder Strg + Enter drücken")
    expect(page.get_by_role("button", name="Erledigt")).to_be_visible()

    # Remembered by the browser, past signing out.
    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    expect(page.get_by_label("Sprache")).to_have_value("de")


def test_browser_language_is_used_until_one_is_chosen(context_for):
    page = context_for(locale="es-ES").new_page()
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    expect(page.get_by_label("Nombre de usuario")).to_be_visible()
    expect(page.get_by_label("Idioma")).to_have_value("es")


# --- dark mode and the README's screenshots ---


def _shot(page, name: str, tmp_path) -> None:
    update = os.environ.get("UPDATE_SCREENSHOTS") == "1"
    path = (SCREENSHOTS if update else tmp_path) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def test_screenshots_of_working_waiting_and_session_ended_in_light_and_dark(
    context_for, make_person, assigner, tmp_path
):
    """The README's pictures; dark mode follows the system setting, with no choice to make."""
    person = make_person("Ada Lovelace", username="ada")
    task_create(
        descriptions=[
            "Batch 2417 · frame welds, line 3\n"
            "Inspect the 12 corner welds of pallet B for porosity and undercut. Photograph "
            "any defect and log it against the batch before releasing the pallet.",
            "Batch 2418 · wheel hubs: verify torque marks on all 24 bolts",
            "Batch 2419 · door panels: paint thickness at the 6 marked points",
        ]
    )
    Task.objects.update(created_at=Now() - timedelta(minutes=23))
    person_login(person_id=person.pk)
    Assignment.objects.update(assigned_at=Now() - timedelta(minutes=4, seconds=12))
    page = context_for().new_page()
    sign_in(page, "ada")
    expect(page.locator("#task-elapsed")).to_have_text(re.compile(r"^4 min 1\d s$"))
    expect(page.locator("#queue-size")).to_have_text("2 tasks wait in the queue.")

    def both_schemes(state: str) -> None:
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            dark = page.evaluate(
                "getComputedStyle(document.body).backgroundColor !== 'rgb(243, 245, 248)'"
            )
            assert dark == (scheme == "dark")
            _shot(page, f"portal-{state}-{scheme}", tmp_path)

    page.locator("#task-description").click()  # no focus ring in the picture
    both_schemes("working")

    for name in ("Grace Hopper", "Alan Turing"):  # they take the rest of the queue
        person_login(person_id=make_person(name).pk)
    page.locator("#complete").click()
    expect(page.locator("#panel-waiting")).to_be_visible()
    expect(page.locator("#queue-size")).to_have_text("The queue is empty.")
    both_schemes("waiting")

    (last,) = task_create(descriptions=["Batch 2420 · seat rails: check the weld spatter"])
    expect_task(page, last)
    person_logout(person_id=person.pk)  # e.g. a supervisor signed Ada out
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#expired-text")).to_contain_text(
        f"Task #{last.pk} went back to the queue."
    )
    page.locator("#expired-text").click()
    both_schemes("session-ended")
    assert not Person.objects.get(pk=person.pk).is_logged_in

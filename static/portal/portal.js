/*
 * QC portal: the page a QC person works in. Vanilla JavaScript, no build step.
 *
 * States:  idle -> working <-> waiting -> expired -> (start again) -> working ...
 *          any of them -> signed-out (the Django session ended)
 * plus a "reconnecting" banner over the current state while a request is retried.
 *
 * Every change goes through the REST API. Completing a task shows the `next_task` of that
 * one response: no reload, no wait for the assigner. Task data is only ever written with
 * textContent.
 *
 * The state also shows outside the page, for someone looking at a part or at another tab:
 * in the title and the favicon, and (opted in, per browser) with a sound and a desktop
 * notification when a task arrives while the tab is hidden. Ctrl+Enter (⌘+Enter) completes
 * from anywhere on the page. Text comes from Django's JavaScript catalog (jsi18n), in the
 * page's language.
 *
 * A complete is a review (docs/engine.md, "Outcomes"): the verdict, notes and defect codes
 * of the form beside the button go in its body. Where the site requires a verdict
 * (QC_REQUIRE_OUTCOME), Pass and Fail take the place of Complete and the shortcut is off.
 * Reviews are blind: nothing here shows another reviewer's verdict.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("portal-config").textContent);
  var csrfToken = document.querySelector('meta[name="csrf-token"]').content;

  function $(id) {
    return document.getElementById(id);
  }

  // Django's catalog defines these; without it (it failed to load) the page works in English.
  var gettext =
    window.gettext ||
    function (text) {
      return text;
    };
  var ngettext =
    window.ngettext ||
    function (singular, plural, n) {
      return n === 1 ? singular : plural;
    };
  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, name) {
      return String(values[name]);
    });
  }

  // Heartbeats: every 25 s while working (well inside the timeout, 90 s by default), every
  // 3 s while waiting so a new assignment shows within seconds. A short timeout shortens both.
  var WORKING_BEAT_MS = Math.min(25000, (config.heartbeatTimeout * 1000) / 3);
  var WAITING_BEAT_MS = Math.min(3000, WORKING_BEAT_MS);
  var MAX_BACKOFF_S = 30;
  var REQUEST_TIMEOUT_MS = 15000;
  // After a new task shows, Complete ignores clicks this long: the second click of a
  // double-click must not complete the task that just appeared. Pass and Fail do so after
  // any new task (work started, a task arrived), as a stray press there is a verdict.
  var REARM_MS = 500;
  // A gap this long between one-second ticks means the machine slept.
  var SLEEP_GAP_MS = 5000;

  var state = "loading";
  var task = null; // the task on screen
  var taskStartedAt = 0; // Date.now() when the task was handed over
  var epoch = 0; // bumped by every user action; answers to older requests are dropped
  var pending = 0; // requests under way (with their retries)
  var completing = false;
  var armedAt = 0;
  var beatTimer = null;
  var wake = null; // ends the current backoff wait early
  var retryAt = 0;
  var retryReason = "";
  var lastTick = Date.now();
  var queueCount = null; // tasks waiting, as last read
  var lastNotification = null;
  var audio = null; // the AudioContext, made on a click (browsers let a page play after one)
  var prefs = readPrefs();
  var isMac = /Mac|iPhone|iPad|iPod/.test(navigator.platform || navigator.userAgent);
  var requireOutcome = config.requireOutcome;
  // The buttons that complete the task on screen: Complete, or Pass and Fail.
  var verdictButtons = requireOutcome ? [$("pass"), $("fail")] : [$("complete")];
  var reviewTaskId = null; // the task the review form was filled in for
  var shownCodes = ""; // the catalogue on screen, as JSON, to redraw only when it changed

  // --- HTTP ---

  // `body`, when given, goes as JSON.
  function send(method, url, body) {
    var controller = new AbortController();
    var timer = setTimeout(function () {
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    var headers = { Accept: "application/json", "X-CSRFToken": csrfToken };
    if (body) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      headers: headers,
      body: body ? JSON.stringify(body) : undefined,
      signal: controller.signal,
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (body) {
            return {
              status: response.status,
              body: body || {},
              retryAfter: Number(response.headers.get("Retry-After")) || 0,
            };
          });
      })
      .finally(function () {
        clearTimeout(timer);
      });
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      var timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        if (wake === done) wake = null;
        resolve();
      }
      wake = done;
    });
  }

  function wakeUp() {
    if (wake) wake();
  }

  // One request, retried with backoff (1, 2, 4 … 30 s, or the server's Retry-After) on
  // network errors and 5xx answers, with the reconnecting banner up meanwhile. Resolves
  // with the answer, or null once a newer user action has superseded it.
  async function request(method, url, myEpoch, body) {
    pending++;
    try {
      for (var attempt = 0; ; attempt++) {
        var answer = null;
        try {
          answer = await send(method, url, body);
        } catch (error) {
          answer = null; // offline, DNS, refused, timed out
        }
        if (myEpoch !== epoch) return null;
        if (answer && answer.status < 500) {
          setReconnecting(false);
          return answer;
        }
        var delay = Math.min(Math.pow(2, attempt), MAX_BACKOFF_S);
        if (answer && answer.retryAfter) delay = Math.max(delay, answer.retryAfter);
        setReconnecting(
          true,
          delay,
          answer ? gettext("The server is unavailable.") : gettext("Connection lost."),
        );
        await sleep(delay * 1000);
        if (myEpoch !== epoch) return null;
      }
    } finally {
      pending--;
    }
  }

  // --- actions ---

  async function startWork() {
    var my = beginAction();
    $("start").setAttribute("aria-disabled", "true");
    $("start-again").setAttribute("aria-disabled", "true");
    var answer = await request("POST", config.urls.login, my);
    $("start").removeAttribute("aria-disabled");
    $("start-again").removeAttribute("aria-disabled");
    if (!answer) return;
    if (answer.status !== 200) return handleError(answer);
    showPerson(answer.body, null);
    refreshQueueSize();
    refreshDefectCodes(); // a supervisor may have changed the catalogue since the page loaded
    announce(
      task
        ? fmt(gettext("Work started. Task #%(id)s is yours."), { id: task.id })
        : gettext("Work started."),
    );
    focusPrimary();
  }

  // `outcome`: "pass" or "fail" from the button pressed where the site requires a verdict;
  // otherwise the form's (optional) choice is read.
  async function completeTask(outcome) {
    if (!task || completing || Date.now() < armedAt) return;
    if (requireOutcome && !outcome) return;
    completing = true;
    renderVerdictButtons();
    var done = task;
    var review = readReview(requireOutcome ? outcome : chosenOutcome());
    showReviewError("");
    var my = beginAction();
    var answer = await request("POST", config.urls.complete.replace("{id}", done.id), my, review);
    completing = false;
    renderVerdictButtons();
    if (!answer) return;
    if (answer.status === 409) return afterTaskLost(done);
    if (answer.status === 400) return reviewRefused(done, answer.body);
    if (answer.status !== 200) return handleError(answer);
    resetReview(); // the next task starts with a blank review
    var next = answer.body.next_task;
    if (next) {
      rearm();
      setTask(next, null);
      setState("working");
      announce(
        fmt(gettext("Task #%(done)s completed. Next: task #%(next)s."), {
          done: done.id,
          next: next.id,
        }),
      );
    } else {
      task = null;
      setState("waiting");
      announce(fmt(gettext("Task #%(id)s completed. No more tasks for now."), { id: done.id }));
      focusIfLost($("waiting-title"));
    }
    scheduleBeat();
    refreshQueueSize();
  }

  // Complete answered 409: the task is no longer this person's. Either the session ended
  // (the task went back to the queue), or it is alive and a supervisor released, reassigned
  // or cancelled the task (and the person may already hold another). One heartbeat tells.
  async function afterTaskLost(lost) {
    var my = beginAction();
    var answer = await request("POST", config.urls.heartbeat, my);
    if (!answer) return;
    if (answer.status === 409) return expire(answer.body, lost);
    if (answer.status !== 200) return handleError(answer);
    task = null;
    showPerson(answer.body, null);
    announce(lostMessage(lost, answer.body.last_release));
    focusIfLost(state === "working" ? verdictButtons[0] : $("waiting-title"));
    refreshQueueSize();
  }

  // `release` is the person's `last_release`: why the engine or a supervisor took a task.
  function lostMessage(lost, release) {
    var timedOut = release && release.task_id === lost.id && release.reason === "TIMED_OUT";
    var text = fmt(
      timedOut
        ? gettext("Task #%(id)s went back to the queue: its time limit passed.")
        : gettext(
            "Task #%(id)s is no longer yours: a supervisor took it back, or it was finished in another window.",
          ),
      { id: lost.id },
    );
    if (task) text += " " + fmt(gettext("Your task now is #%(id)s."), { id: task.id });
    return text;
  }

  async function stopWork() {
    var held = task;
    var my = beginAction();
    var answer = await request("POST", config.urls.logout, my);
    if (!answer) return;
    if (answer.status !== 200) return handleError(answer);
    task = null;
    setState("idle");
    announce(
      held
        ? fmt(gettext("You stopped work. Task #%(id)s went back to the queue."), { id: held.id })
        : gettext("You stopped work."),
    );
    $("start").focus();
  }

  async function heartbeat() {
    clearBeat();
    if (state !== "working" && state !== "waiting") return;
    // A request under way (or a superseded one still settling): try again at the next beat.
    if (pending > 0) return scheduleBeat();
    var answer = await request("POST", config.urls.heartbeat, epoch);
    if (!answer) return;
    if (answer.status === 409) return expire(answer.body, task);
    if (answer.status !== 200) return handleError(answer);
    var before = task;
    showPerson(answer.body, null);
    if (before && (!task || task.id !== before.id)) {
      announce(lostMessage(before, answer.body.last_release));
    } else if (!before && task) {
      announce(fmt(gettext("New task #%(id)s assigned to you."), { id: task.id }));
    }
    if (task && (!before || task.id !== before.id)) {
      focusIfLost(verdictButtons[0]);
      alertArrival(task);
    }
    refreshQueueSize();
  }

  function refreshQueueSize() {
    send("GET", config.urls.queueSize)
      .then(function (answer) {
        var element = $("queue-size");
        if (answer.status !== 200 || typeof answer.body.pending !== "number") {
          element.hidden = true;
          queueCount = null;
          renderTitle();
          return;
        }
        var n = answer.body.pending;
        queueCount = n;
        element.textContent =
          n === 0
            ? gettext("The queue is empty.")
            : fmt(
                ngettext("%(n)s task waits in the queue.", "%(n)s tasks wait in the queue.", n),
                { n: n },
              );
        element.hidden = state !== "working" && state !== "waiting";
        renderTitle();
      })
      .catch(function () {
        /* the count is a nicety; the heartbeat reports connection trouble */
      });
  }

  // A user action supersedes whatever is under way: its answer will be dropped.
  function beginAction() {
    epoch++;
    clearBeat();
    wakeUp();
    return epoch;
  }

  // Send a heartbeat now, or end a backoff wait now: after sleep, a lost network or a tab
  // coming back, the page learns at once whether its session is still alive.
  function poke() {
    if (pending > 0) wakeUp();
    else if (state === "working" || state === "waiting") heartbeat();
    else setReconnecting(false);
  }

  // --- state ---

  function showPerson(person, assignedAt) {
    if (!person.is_logged_in) {
      task = null;
      setState("idle");
    } else if (person.current_task) {
      setTask(person.current_task, assignedAt);
      setState("working");
    } else {
      task = null;
      setState("waiting");
    }
    scheduleBeat();
  }

  function setTask(next, assignedAt) {
    if (!task || task.id !== next.id) {
      taskStartedAt = assignedAt === null ? Date.now() : assignedAt;
      if (requireOutcome) rearm();
    }
    // What was typed stays with its task (back after an expired session, say), and only.
    if (reviewTaskId !== next.id) resetReview();
    reviewTaskId = next.id;
    task = next;
    $("task-id").textContent = "#" + next.id;
    // Which review of the task this is: no verdict, nor whose the earlier ones were.
    var required = next.reviews_required || 1;
    $("task-review").hidden = required < 2;
    $("task-review").textContent =
      required < 2
        ? ""
        : fmt(gettext("Review %(n)s of %(total)s"), {
            n: Math.min(next.reviews_done + 1, required),
            total: required,
          });
    $("task-description").textContent = next.description;
    var created = new Date(next.created_at);
    $("task-created").dateTime = next.created_at;
    $("task-created").textContent = formatDate(created);
    renderVerdictButtons();
    tick();
  }

  function expire(body, held) {
    task = null;
    clearBeat();
    setState("expired");
    var why =
      body.code === "no_session"
        ? gettext(
            "Your work session was ended: it timed out, or was stopped in another window or by a supervisor.",
          )
        : gettext("Your work session expired: the page lost contact with the server for too long.");
    var text = [
      why,
      held
        ? fmt(gettext("Task #%(id)s went back to the queue."), { id: held.id })
        : gettext("Any task you had went back to the queue."),
      gettext("Press Start again to go on working."),
    ].join(" ");
    // Set after the panel shows, so screen readers announce the alert.
    $("expired-text").textContent = "";
    requestAnimationFrame(function () {
      $("expired-text").textContent = text;
    });
    announce("");
    focusIfLost($("start-again"), true);
  }

  function handleError(answer) {
    if (answer.status === 401) {
      task = null;
      clearBeat();
      announce("");
      setState("signed-out");
      focusIfLost($("signed-out-title"), true);
      return;
    }
    var detail =
      answer.body.detail ||
      fmt(gettext("The request failed (HTTP %(status)s)."), { status: answer.status });
    if (answer.status === 403) {
      // The page only acts for its own person: a refusal means this browser's sign-in
      // changed (another account, or a new CSRF token) since the page loaded.
      detail = gettext("Your sign-in changed in another window. Reload this page.");
    }
    announce(detail);
    scheduleBeat();
  }

  function setState(next) {
    state = next;
    document.getElementById("portal").dataset.state = next;
    ["loading", "idle", "working", "waiting", "expired", "signed-out"].forEach(function (name) {
      $("panel-" + name).hidden = name !== next;
    });
    var labels = {
      idle: gettext("Not working"),
      working: gettext("Working"),
      waiting: gettext("Working · waiting for a task"),
      expired: gettext("Session ended"),
      "signed-out": gettext("Signed out"),
    };
    $("state-text").textContent = labels[next] || "";
    $("stop").hidden = next !== "working" && next !== "waiting";
    $("queue-size").hidden = $("stop").hidden || !$("queue-size").textContent;
    if (next !== "working" && next !== "waiting") setReconnecting(false);
    renderTitle();
  }

  function setReconnecting(on, delay, reason) {
    document.getElementById("portal").dataset.reconnecting = on ? "true" : "false";
    var changed = $("connection").hidden === on;
    $("connection").hidden = !on;
    if (on) {
      retryAt = Date.now() + delay * 1000;
      retryReason = reason;
      renderRetry();
    }
    if (changed) renderTitle();
  }

  function renderRetry() {
    var seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    $("connection-text").textContent =
      retryReason +
      " " +
      (seconds > 0
        ? fmt(gettext("Reconnecting in %(seconds)s s…"), { seconds: seconds })
        : gettext("Reconnecting…"));
  }

  function rearm() {
    armedAt = Date.now() + REARM_MS;
    setTimeout(renderVerdictButtons, REARM_MS + 20);
  }

  function renderVerdictButtons() {
    var off = completing || Date.now() < armedAt;
    // aria-disabled, not disabled: the button keeps the keyboard focus between tasks.
    verdictButtons.forEach(function (button) {
      if (off) button.setAttribute("aria-disabled", "true");
      else button.removeAttribute("aria-disabled");
    });
    if (!requireOutcome) {
      $("complete").textContent = completing ? gettext("Completing…") : gettext("Complete");
    }
  }

  // --- the review: verdict, notes, defect codes ---

  function chosenOutcome() {
    var checked = document.querySelector('input[name="outcome"]:checked');
    return checked ? checked.value : "";
  }

  function chosenDefects() {
    return Array.prototype.map.call(
      $("defect-list").querySelectorAll("input:checked"),
      function (box) {
        return box.value;
      },
    );
  }

  // The body of the complete request; null for none (a bare complete).
  function readReview(outcome) {
    var review = {};
    var notes = $("notes").value.trim();
    var defects = chosenDefects();
    if (outcome) review.outcome = outcome;
    if (notes) review.notes = notes;
    if (defects.length) review.defects = defects;
    return Object.keys(review).length ? review : null;
  }

  function resetReview() {
    $("notes").value = "";
    $("defect-list").querySelectorAll("input").forEach(function (box) {
      box.checked = false;
    });
    if (!requireOutcome) $("outcome-none").checked = true;
    showReviewError("");
  }

  function showReviewError(text) {
    $("review-error").textContent = text;
    $("review-error").hidden = !text;
  }

  // Complete answered 400: the review was refused (an inactive code, a verdict missing…).
  // What the person chose and typed stays; the server's reasons are shown beside it.
  async function reviewRefused(done, body) {
    var reasons = [];
    Object.keys(body).forEach(function (field) {
      if (field === "code") return;
      [].concat(body[field]).forEach(function (reason) {
        if (typeof reason === "string") reasons.push(reason);
      });
    });
    var text = reasons.length
      ? fmt(gettext("Task #%(id)s was not completed: %(reasons)s"), {
          id: done.id,
          reasons: reasons.join(" "),
        })
      : fmt(gettext("Task #%(id)s was not completed: the server refused the review."), {
          id: done.id,
        });
    showReviewError(text);
    announce("");
    scheduleBeat();
    if (!body.defects) return;
    // A code went out of use since the catalogue was read: read it again.
    var before = chosenDefects();
    await refreshDefectCodes();
    var dropped = before.filter(function (code) {
      return chosenDefects().indexOf(code) < 0;
    });
    if (dropped.length && task && task.id === done.id) {
      showReviewError(
        fmt(
          ngettext(
            "Task #%(id)s was not completed: the defect code %(codes)s is no longer in use, so it was taken off your choice. Check the defects, then try again.",
            "Task #%(id)s was not completed: the defect codes %(codes)s are no longer in use, so they were taken off your choice. Check the defects, then try again.",
            dropped.length,
          ),
          { id: done.id, codes: dropped.join(", ") },
        ),
      );
    }
  }

  // The active defect codes, one checkbox each (code and description in its label); what
  // is ticked stays ticked. The fieldset shows only when there is a catalogue.
  function renderDefectCodes(codes) {
    var json = JSON.stringify(codes);
    if (json === shownCodes) return;
    shownCodes = json;
    var list = $("defect-list");
    var ticked = chosenDefects();
    var focused = list.contains(document.activeElement) ? document.activeElement.value : null;
    list.textContent = "";
    codes.forEach(function (item) {
      var box = document.createElement("input");
      box.type = "checkbox";
      box.id = "defect-" + item.code;
      box.value = item.code;
      box.checked = ticked.indexOf(item.code) >= 0;
      var code = document.createElement("span");
      code.className = "defect-code";
      code.textContent = item.code;
      var description = document.createElement("span");
      description.className = "defect-description";
      description.textContent = item.description;
      var label = document.createElement("label");
      label.htmlFor = box.id;
      label.append(code, " ", description);
      var row = document.createElement("div");
      row.className = "defect";
      row.append(box, label);
      list.append(row);
      if (item.code === focused) box.focus();
    });
    $("defects").hidden = codes.length === 0;
    // The focused code went out of use: the focus goes to the next field rather than nowhere.
    if (focused !== null && !list.contains(document.activeElement)) $("notes").focus();
  }

  function refreshDefectCodes() {
    return send("GET", config.urls.defectCodes)
      .then(function (answer) {
        if (answer.status === 200 && Array.isArray(answer.body)) renderDefectCodes(answer.body);
      })
      .catch(function () {
        /* the catalogue on screen stays; the heartbeat reports connection trouble */
      });
  }

  // --- the state outside the page: title, favicon, sound, desktop notification ---

  var BRAND = " — qc-assign";

  function renderTitle() {
    var reconnecting = !$("connection").hidden;
    var title;
    if (reconnecting) {
      title = gettext("Reconnecting…");
    } else if (state === "working" && task) {
      title = fmt(gettext("● Task #%(id)s"), { id: task.id });
    } else if (state === "waiting") {
      title =
        queueCount === null
          ? gettext("Waiting")
          : fmt(gettext("Waiting (%(n)s in queue)"), { n: queueCount });
    } else if (state === "idle") {
      title = gettext("Not working");
    } else if (state === "expired") {
      title = gettext("Session ended");
    } else if (state === "signed-out") {
      title = gettext("Signed out");
    } else {
      title = gettext("Loading…");
    }
    document.title = title + BRAND;
    setFavicon(reconnecting ? "reconnecting" : state);
  }

  // The app's mark with a badge for the state: green (a task), amber (waiting), amber with
  // a bar (reconnecting), red with a cross (ended); no badge when not working.
  var BADGES = {
    working: '<circle cx="23" cy="23" r="9" fill="#16a34a" stroke="#fff" stroke-width="2"/>',
    waiting:
      '<circle cx="23" cy="23" r="9" fill="#f59e0b" stroke="#fff" stroke-width="2"/>' +
      '<circle cx="23" cy="23" r="3" fill="#fff"/>',
    reconnecting:
      '<circle cx="23" cy="23" r="9" fill="#f59e0b" stroke="#fff" stroke-width="2"/>' +
      '<path d="M18 23h10" stroke="#fff" stroke-width="3"/>',
    expired:
      '<circle cx="23" cy="23" r="9" fill="#dc2626" stroke="#fff" stroke-width="2"/>' +
      '<path d="M19.5 19.5l7 7m0-7l-7 7" stroke="#fff" stroke-width="2.5"/>',
  };
  BADGES["signed-out"] = BADGES.expired;

  function setFavicon(kind) {
    var link = $("favicon");
    if (!link || link.dataset.state === kind) return;
    var svg =
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" data-state="' +
      kind +
      '"><rect width="32" height="32" rx="7" fill="#243b53"/>' +
      '<text x="13" y="18" font-family="DejaVu Sans, Verdana, sans-serif" font-size="11" ' +
      'font-weight="700" text-anchor="middle" fill="#f0f4f8">QC</text>' +
      (BADGES[kind] || "") +
      "</svg>";
    link.href = "data:image/svg+xml," + encodeURIComponent(svg);
    link.dataset.state = kind;
  }

  // A task arrived by itself (not by the person's own action): tell someone who is not
  // looking at this tab, if they asked for it in this browser.
  function alertArrival(arrived) {
    if (!prefs.alerts || document.visibilityState !== "hidden") return;
    chime();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      var notification = new Notification(fmt(gettext("New task #%(id)s"), { id: arrived.id }), {
        body: arrived.description.slice(0, 200),
        tag: "qc-assign-task",
        lang: document.documentElement.lang,
      });
      notification.onclick = function () {
        window.focus();
        notification.close();
      };
      lastNotification = notification;
    } catch (error) {
      // Some browsers (Chrome on Android) only notify through a service worker: the
      // sound and the title still tell.
    }
  }

  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume();
    return audio;
  }

  // Two short rising tones, about half a second.
  function chime() {
    var context = unlockAudio();
    if (!context) return;
    var now = context.currentTime;
    [
      [880, 0],
      [1318.5, 0.17],
    ].forEach(function (tone) {
      var oscillator = context.createOscillator();
      var gain = context.createGain();
      var at = now + tone[1];
      oscillator.type = "sine";
      oscillator.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.32);
      oscillator.connect(gain);
      gain.connect(context.destination);
      oscillator.start(at);
      oscillator.stop(at + 0.35);
    });
  }

  // --- preferences, remembered by this browser (a cookie: two flags, nothing personal) ---

  var PREFS_COOKIE = "qc_portal_prefs";

  function readPrefs() {
    var match = document.cookie.match(/(?:^|;\s*)qc_portal_prefs=([^;]*)/);
    var values = new URLSearchParams(match ? decodeURIComponent(match[1]) : "");
    return { alerts: values.get("alerts") === "1", shortcut: values.get("shortcut") !== "0" };
  }

  function savePrefs() {
    var value = "alerts=" + (prefs.alerts ? 1 : 0) + "&shortcut=" + (prefs.shortcut ? 1 : 0);
    document.cookie =
      PREFS_COOKIE +
      "=" +
      encodeURIComponent(value) +
      "; max-age=31536000; path=/; samesite=lax" +
      (location.protocol === "https:" ? "; secure" : "");
  }

  function renderPrefs() {
    $("pref-alerts").checked = prefs.alerts;
    if (!requireOutcome) {
      $("pref-shortcut").checked = prefs.shortcut;
      $("shortcut-hint").hidden = !prefs.shortcut;
      if (prefs.shortcut) {
        $("complete").setAttribute("aria-keyshortcuts", isMac ? "Meta+Enter" : "Control+Enter");
      } else {
        $("complete").removeAttribute("aria-keyshortcuts");
      }
    }
    var status = "";
    if (prefs.alerts) {
      if (!("Notification" in window) || !window.isSecureContext) {
        status = gettext(
          "This browser cannot show desktop notifications for this page; the sound still plays.",
        );
      } else if (Notification.permission === "denied") {
        status = gettext(
          "Desktop notifications are blocked for this site in the browser's settings; the sound still plays.",
        );
      }
    }
    $("alerts-status").textContent = status;
  }

  function onAlertsChange() {
    prefs.alerts = $("pref-alerts").checked;
    savePrefs();
    if (prefs.alerts) {
      unlockAudio(); // now, during the click: later, with the tab hidden, it may not start
      if ("Notification" in window && Notification.permission === "default") {
        Notification.requestPermission().then(renderPrefs, renderPrefs);
      }
    }
    renderPrefs();
  }

  function onShortcutChange() {
    prefs.shortcut = $("pref-shortcut").checked;
    savePrefs();
    renderPrefs();
  }

  // Ctrl+Enter (⌘+Enter) completes from anywhere on the page, the notes field included.
  // Not where a verdict is required: one key cannot say pass or fail.
  function onKeydown(event) {
    if (requireOutcome) return;
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (event.altKey || event.shiftKey || !prefs.shortcut || state !== "working") return;
    event.preventDefault(); // a focused button must not also take it as a click
    if (!event.repeat) completeTask();
  }

  function clearBeat() {
    clearTimeout(beatTimer);
    beatTimer = null;
  }

  function scheduleBeat() {
    clearBeat();
    if (state === "working" || state === "waiting") {
      beatTimer = setTimeout(heartbeat, state === "waiting" ? WAITING_BEAT_MS : WORKING_BEAT_MS);
    }
  }

  // --- display helpers ---

  function announce(text) {
    $("notice").textContent = text;
  }

  function focusPrimary() {
    if (state === "working") verdictButtons[0].focus();
    else if (state === "waiting") $("waiting-title").focus();
  }

  // Move the focus only when it was on something now hidden (or nowhere), or when forced.
  function focusIfLost(element, force) {
    var active = document.activeElement;
    var lost = !active || active === document.body || active.closest("[hidden]");
    if (lost || force) element.focus();
  }

  // The page's language, in the browser's regional variant when it has one (en-GB dates for
  // a British browser on the English page).
  function dateLocale() {
    var page = document.documentElement.lang || "en";
    var preferred = (navigator.languages || []).filter(function (tag) {
      return tag.split("-")[0].toLowerCase() === page.split("-")[0].toLowerCase();
    });
    return preferred.length ? preferred[0] : page;
  }

  function formatDate(date) {
    try {
      return new Intl.DateTimeFormat(dateLocale(), {
        dateStyle: "medium",
        timeStyle: "short",
      }).format(date);
    } catch (error) {
      return date.toLocaleString();
    }
  }

  function formatDuration(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    function two(n) {
      return (n < 10 ? "0" : "") + n;
    }
    if (h > 0) return fmt(gettext("%(h)s h %(m)s min"), { h: h, m: two(m) });
    if (m > 0) return fmt(gettext("%(m)s min %(s)s s"), { m: m, s: two(s) });
    return fmt(gettext("%(s)s s"), { s: s });
  }

  function formatAge(ms) {
    var minutes = Math.floor(ms / 60000);
    if (minutes < 1) return gettext("(just now)");
    if (minutes < 60) return fmt(gettext("(%(n)s min ago)"), { n: minutes });
    var hours = Math.floor(minutes / 60);
    if (hours < 48) return fmt(gettext("(%(n)s h ago)"), { n: hours });
    var days = Math.floor(hours / 24);
    return fmt(ngettext("(%(n)s day ago)", "(%(n)s days ago)", days), { n: days });
  }

  function tick() {
    var now = Date.now();
    var slept = now - lastTick > SLEEP_GAP_MS;
    lastTick = now;
    if (task) {
      $("task-elapsed").textContent = formatDuration(now - taskStartedAt);
      $("task-age").textContent = formatAge(now - new Date(task.created_at).getTime());
    }
    if (!$("connection").hidden) renderRetry();
    if (slept) poke();
  }

  // --- wiring ---

  $("start").addEventListener("click", function () {
    if ($("start").getAttribute("aria-disabled") !== "true") startWork();
  });
  $("start-again").addEventListener("click", function () {
    if ($("start-again").getAttribute("aria-disabled") !== "true") startWork();
  });
  verdictButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      completeTask(button.dataset.outcome);
    });
  });
  $("stop").addEventListener("click", stopWork);
  $("retry-now").addEventListener("click", poke);
  $("pref-alerts").addEventListener("change", onAlertsChange);
  if (!requireOutcome) $("pref-shortcut").addEventListener("change", onShortcutChange);
  window.addEventListener("keydown", onKeydown, true);
  // Any click lets the page play the sound later, once the person has opted in.
  document.addEventListener("click", function () {
    if (prefs.alerts) unlockAudio();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    if (lastNotification) lastNotification.close();
    lastNotification = null;
    poke();
  });
  window.addEventListener("online", poke);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) poke(); // back from the back/forward cache
  });
  window.addEventListener("offline", function () {
    if (state === "working" || state === "waiting") {
      setReconnecting(true, 0, gettext("No network connection."));
    }
  });
  setInterval(tick, 1000);

  if (isMac) {
    document.querySelectorAll(".mod-key").forEach(function (key) {
      key.textContent = "⌘";
    });
  }
  renderPrefs();
  renderDefectCodes(config.defectCodes);

  // The state the server rendered; a session left open may have expired meanwhile, so it
  // is confirmed with a heartbeat at once.
  var person = config.person;
  var assignedAt = null;
  if (config.assignedAt) {
    // Server clock to page clock: only the difference of two server times is used.
    var onTask = new Date(config.serverNow).getTime() - new Date(config.assignedAt).getTime();
    assignedAt = Date.now() - Math.max(0, onTask);
  }
  showPerson(person, assignedAt);
  if (person.is_logged_in) heartbeat();
})();

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
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("portal-config").textContent);
  var csrfToken = document.querySelector('meta[name="csrf-token"]').content;

  function $(id) {
    return document.getElementById(id);
  }

  // Heartbeats: every 25 s while working (well inside the timeout, 90 s by default), every
  // 3 s while waiting so a new assignment shows within seconds. A short timeout shortens both.
  var WORKING_BEAT_MS = Math.min(25000, (config.heartbeatTimeout * 1000) / 3);
  var WAITING_BEAT_MS = Math.min(3000, WORKING_BEAT_MS);
  var MAX_BACKOFF_S = 30;
  var REQUEST_TIMEOUT_MS = 15000;
  // After a new task shows, Complete ignores clicks this long: the second click of a
  // double-click must not complete the task that just appeared.
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

  // --- HTTP ---

  function send(method, url) {
    var controller = new AbortController();
    var timer = setTimeout(function () {
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
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
  async function request(method, url, myEpoch) {
    pending++;
    try {
      for (var attempt = 0; ; attempt++) {
        var answer = null;
        try {
          answer = await send(method, url);
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
        setReconnecting(true, delay, answer ? "The server is unavailable." : "Connection lost.");
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
    announce(task ? "Work started. Task #" + task.id + " is yours." : "Work started.");
    focusPrimary();
  }

  async function completeTask() {
    if (!task || completing || Date.now() < armedAt) return;
    completing = true;
    renderCompleteButton();
    var done = task;
    var my = beginAction();
    var answer = await request("POST", config.urls.complete.replace("{id}", done.id), my);
    completing = false;
    renderCompleteButton();
    if (!answer) return;
    if (answer.status === 409) return afterTaskLost(done);
    if (answer.status !== 200) return handleError(answer);
    var next = answer.body.next_task;
    if (next) {
      armedAt = Date.now() + REARM_MS;
      setTimeout(renderCompleteButton, REARM_MS + 20);
      setTask(next, null);
      setState("working");
      announce("Task #" + done.id + " completed. Next: task #" + next.id + ".");
    } else {
      task = null;
      setState("waiting");
      announce("Task #" + done.id + " completed. No more tasks for now.");
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
    focusIfLost(state === "working" ? $("complete") : $("waiting-title"));
    refreshQueueSize();
  }

  // `release` is the person's `last_release`: why the engine or a supervisor took a task.
  function lostMessage(lost, release) {
    var timedOut = release && release.task_id === lost.id && release.reason === "TIMED_OUT";
    return (
      (timedOut
        ? "Task #" + lost.id + " went back to the queue: its time limit passed."
        : "Task #" + lost.id + " is no longer yours: a supervisor took it back, or it was " +
          "finished in another window.") +
      (task ? " Your task now is #" + task.id + "." : "")
    );
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
        ? "You stopped work. Task #" + held.id + " went back to the queue."
        : "You stopped work.",
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
      announce("New task #" + task.id + " assigned to you.");
    }
    if (task && (!before || task.id !== before.id)) focusIfLost($("complete"));
    refreshQueueSize();
  }

  function refreshQueueSize() {
    send("GET", config.urls.queueSize)
      .then(function (answer) {
        var element = $("queue-size");
        if (answer.status !== 200 || typeof answer.body.pending !== "number") {
          element.hidden = true;
          return;
        }
        var n = answer.body.pending;
        element.textContent =
          n === 0
            ? "The queue is empty."
            : n + (n === 1 ? " task waits" : " tasks wait") + " in the queue.";
        element.hidden = state !== "working" && state !== "waiting";
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
    }
    task = next;
    $("task-id").textContent = "#" + next.id;
    $("task-description").textContent = next.description;
    var created = new Date(next.created_at);
    $("task-created").dateTime = next.created_at;
    $("task-created").textContent = formatDate(created);
    renderCompleteButton();
    tick();
  }

  function expire(body, held) {
    task = null;
    clearBeat();
    setState("expired");
    var why =
      body.code === "no_session"
        ? "Your work session was ended: it timed out, or was stopped in another window " +
          "or by a supervisor."
        : "Your work session expired: the page lost contact with the server for too long.";
    var text =
      why +
      (held
        ? " Task #" + held.id + " went back to the queue."
        : " Any task you had went back to the queue.") +
      " Press Start again to go on working.";
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
      setState("signed-out");
      focusIfLost($("signed-out-title"), true);
      return;
    }
    var detail = answer.body.detail || "The request failed (HTTP " + answer.status + ").";
    if (answer.status === 403) {
      // The page only acts for its own person: a refusal means this browser's sign-in
      // changed (another account, or a new CSRF token) since the page loaded.
      detail = "Your sign-in changed in another window. Reload this page.";
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
      idle: "Not working",
      working: "Working",
      waiting: "Working · waiting for a task",
      expired: "Session ended",
      "signed-out": "Signed out",
    };
    $("state-text").textContent = labels[next] || "";
    $("stop").hidden = next !== "working" && next !== "waiting";
    $("queue-size").hidden = $("stop").hidden || !$("queue-size").textContent;
    if (next !== "working" && next !== "waiting") setReconnecting(false);
  }

  function setReconnecting(on, delay, reason) {
    document.getElementById("portal").dataset.reconnecting = on ? "true" : "false";
    $("connection").hidden = !on;
    if (on) {
      retryAt = Date.now() + delay * 1000;
      retryReason = reason;
      renderRetry();
    }
  }

  function renderRetry() {
    var seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    $("connection-text").textContent =
      retryReason +
      (seconds > 0 ? " Reconnecting in " + seconds + " s…" : " Reconnecting…");
  }

  function renderCompleteButton() {
    var off = completing || Date.now() < armedAt;
    // aria-disabled, not disabled: the button keeps the keyboard focus between tasks.
    if (off) $("complete").setAttribute("aria-disabled", "true");
    else $("complete").removeAttribute("aria-disabled");
    $("complete").textContent = completing ? "Completing…" : "Complete";
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
    if (state === "working") $("complete").focus();
    else if (state === "waiting") $("waiting-title").focus();
  }

  // Move the focus only when it was on something now hidden (or nowhere), or when forced.
  function focusIfLost(element, force) {
    var active = document.activeElement;
    var lost = !active || active === document.body || active.closest("[hidden]");
    if (lost || force) element.focus();
  }

  function formatDate(date) {
    try {
      return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(
        date,
      );
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
    if (h > 0) return h + " h " + two(m) + " min";
    if (m > 0) return m + " min " + two(s) + " s";
    return s + " s";
  }

  function formatAge(ms) {
    var minutes = Math.floor(ms / 60000);
    if (minutes < 1) return "(just now)";
    if (minutes < 60) return "(" + minutes + " min ago)";
    var hours = Math.floor(minutes / 60);
    if (hours < 48) return "(" + hours + " h ago)";
    return "(" + Math.floor(hours / 24) + " days ago)";
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
  $("complete").addEventListener("click", completeTask);
  $("stop").addEventListener("click", stopWork);
  $("retry-now").addEventListener("click", poke);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") poke();
  });
  window.addEventListener("online", poke);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) poke(); // back from the back/forward cache
  });
  window.addEventListener("offline", function () {
    if (state === "working" || state === "waiting") {
      setReconnecting(true, 0, "No network connection.");
    }
  });
  setInterval(tick, 1000);

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

/*
 * The supervisor dashboard: refreshes its figures from the JSON endpoint every few
 * seconds (no page reload: scroll, focus and what the supervisor is reading stay put),
 * draws the hourly charts with uPlot (vendored in static/vendor/uplot), and offers a pause.
 *
 * The page is complete without this script (server-rendered); the script only keeps it
 * fresh. Everything it writes from the data goes through textContent. No inline script:
 * the configuration comes from a json_script block. Text comes from Django's JavaScript
 * catalog (jsi18n, loaded before this script), numbers and times are written in the
 * page's language.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("qc-dashboard-config").textContent);
  var csrfToken = document.querySelector("#qc-csrf input[name=csrfmiddlewaretoken]").value;
  var REQUEST_TIMEOUT_MS = 10000;
  var MAX_BACKOFF_S = 120;

  // Django's catalog defines these; without it (it failed to load) the page works in English.
  var gettext =
    window.gettext ||
    function (text) {
      return text;
    };
  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (match, name) {
      return String(values[name]);
    });
  }

  var LANG = document.documentElement.lang || "en";
  // Formatters in the page's language and the site's zone (TIME_ZONE), as the server writes
  // its own figures; an unknown zone falls back to UTC rather than breaking the page.
  function dateTimeFormat(options) {
    try {
      return new Intl.DateTimeFormat(LANG, Object.assign({ timeZone: config.timeZone }, options));
    } catch (e) {
      return new Intl.DateTimeFormat(LANG, Object.assign({ timeZone: "UTC" }, options));
    }
  }
  var HOUR_MINUTE = dateTimeFormat({ hour: "2-digit", minute: "2-digit" });
  var DAY_MONTH = dateTimeFormat({ day: "numeric", month: "short" });
  var DAY_MONTH_TIME = dateTimeFormat({
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
  var HOUR_OF_DAY = dateTimeFormat({ hour: "numeric", minute: "numeric", hourCycle: "h23" });

  function number(value, decimals) {
    return Number(value).toLocaleString(LANG, {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
  }

  var state = {
    data: config.data,
    window: config.data.window,
    hours: 24,
    paused: false,
    updatedAt: Date.now(),
    failures: 0,
    timer: null,
    charts: {},
  };

  function $(id) {
    return document.getElementById(id);
  }

  function setText(id, value) {
    var el = $(id);
    if (el && el.textContent !== String(value)) el.textContent = String(value);
  }

  // As tasks/templatetags/qc_admin.short_duration: 45 s, 3 min 05 s, 2 h 10 min, 3 d 4 h.
  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "\u2014";
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return fmt(gettext("%(s)s s"), { s: s });
    var m = Math.floor(s / 60);
    s = s % 60;
    if (m < 60) return fmt(gettext("%(m)s min %(s)s s"), { m: m, s: two(s) });
    var h = Math.floor(m / 60);
    m = m % 60;
    if (h < 48) return fmt(gettext("%(h)s h %(m)s min"), { h: h, m: two(m) });
    return fmt(gettext("%(d)s d %(h)s h"), { d: Math.floor(h / 24), h: h % 24 });
  }

  function ago(seconds) {
    return fmt(gettext("%(duration)s ago"), { duration: duration(seconds) });
  }

  // An axis label: as short as a tick allows (45 s, 2.5 min, 1.2 h).
  function axisDuration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return fmt(gettext("%(s)s s"), { s: Math.round(seconds) });
    var minutes = Math.round((seconds / 60) * 10) / 10;
    if (seconds < 3600) return fmt(gettext("%(n)s min"), { n: number(minutes, minutes % 1 ? 1 : 0) });
    var hours = Math.round((seconds / 3600) * 10) / 10;
    return fmt(gettext("%(n)s h"), { n: number(hours, hours % 1 ? 1 : 0) });
  }

  // A time axis label: the day at midnight (in the site's zone), else the time of day.
  function axisTime(seconds) {
    var date = new Date(seconds * 1000);
    var hour = 0;
    var minute = 0;
    HOUR_OF_DAY.formatToParts(date).forEach(function (part) {
      if (part.type === "hour") hour = Number(part.value) % 24;
      if (part.type === "minute") minute = Number(part.value);
    });
    return hour === 0 && minute === 0 ? DAY_MONTH.format(date) : HOUR_MINUTE.format(date);
  }

  function urlFor(template, id) {
    return template.replace("/0/", "/" + id + "/");
  }

  // --- the figures ---

  function renderCards(d) {
    setText("qc-pending", d.queue.pending);
    setText("qc-in-progress", d.queue.inProgress);
    setText("qc-oldest", duration(d.queue.oldestPendingAge));
    setText("qc-working", d.people.working);
    setText("qc-idle", d.people.idle);
    setText("qc-signed-out", d.people.signedOut);
    setText("qc-created", d.flow.created);
    setText("qc-assigned", d.flow.assigned);
    setText("qc-completed", d.flow.completed);
    setText("qc-wait-median", duration(d.flow.waitMedian));
    setText("qc-wait-p90", duration(d.flow.waitP90));
    setText("qc-handle-median", duration(d.flow.handleMedian));
    setText("qc-handle-p90", duration(d.flow.handleP90));
    setText("qc-samples", d.flow.waitSample + " / " + d.flow.handleSample);
    d.flow.released.forEach(function (r) {
      var cell = document.querySelector('#qc-released tr[data-reason="' + r.reason + '"] td');
      if (cell) cell.textContent = r.n;
    });
    document.querySelectorAll(".qc-windows a").forEach(function (a) {
      if (a.dataset.window === d.window) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    });
    setText(
      "qc-as-of",
      fmt(gettext("As of %(time)s (%(zone)s)"), { time: d.now.replace("T", " ").slice(0, 19), zone: d.timeZone })
    );
  }

  function hiddenForm(action, label, text) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = action;
    [["csrfmiddlewaretoken", csrfToken], ["next", location.pathname + location.search]].forEach(
      function (pair) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = pair[0];
        input.value = pair[1];
        form.appendChild(input);
      }
    );
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "button";
    button.setAttribute("aria-label", label);
    button.textContent = text;
    form.appendChild(button);
    return form;
  }

  function fillRow(tr, p) {
    tr.textContent = "";
    var th = document.createElement("th");
    th.scope = "row";
    var link = document.createElement("a");
    link.href = urlFor(config.personUrl, p.id);
    link.textContent = p.name;
    th.appendChild(link);
    tr.appendChild(th);
    var task = document.createElement("td");
    task.className = "qc-task";
    if (p.taskId) {
      var taskLink = document.createElement("a");
      taskLink.href = urlFor(config.taskUrl, p.taskId);
      taskLink.textContent = "#" + p.taskId;
      task.appendChild(taskLink);
      var text = p.taskDescription || "";
      task.appendChild(document.createTextNode(" " + (text.length > 60 ? text.slice(0, 59) + "\u2026" : text)));
    } else {
      var em = document.createElement("em");
      em.textContent = gettext("idle");
      task.appendChild(em);
    }
    tr.appendChild(task);
    [
      ["qc-on-task", duration(p.timeOnTask)],
      ["qc-heartbeat", ago(p.sinceHeartbeat)],
      ["qc-done", p.completedToday],
    ].forEach(function (pair) {
      var td = document.createElement("td");
      td.className = pair[0];
      td.textContent = pair[1];
      tr.appendChild(td);
    });
    if (config.canIntervene) {
      var td = document.createElement("td");
      td.className = "qc-intervene";
      td.appendChild(
        hiddenForm(
          urlFor(config.signOutUrl, p.id),
          fmt(gettext("Sign out %(name)s"), { name: p.name }),
          gettext("Sign out")
        )
      );
      if (p.taskId) {
        td.appendChild(document.createTextNode(" "));
        td.appendChild(
          hiddenForm(
            urlFor(config.releaseUrl, p.taskId),
            fmt(gettext("Put task %(id)s back in the queue"), { id: p.taskId }),
            gettext("Put task back")
          )
        );
      }
      tr.appendChild(td);
    }
    tr.dataset.key = JSON.stringify([p.name, p.taskId, p.taskDescription]);
  }

  function renderPeople(d) {
    var table = $("qc-people-table");
    // A supervisor about to press a button in the table must press the one they see:
    // the table waits while the pointer or the focus is in it.
    if (table.matches(":hover") || table.contains(document.activeElement)) return false;
    var body = table.tBodies[0];
    var existing = {};
    Array.prototype.forEach.call(body.rows, function (tr) {
      existing[tr.dataset.person] = tr;
    });
    var previous = null;
    d.people.rows.forEach(function (p) {
      var tr = existing[p.id];
      delete existing[p.id];
      var key = JSON.stringify([p.name, p.taskId, p.taskDescription]);
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.person = p.id;
        fillRow(tr, p);
      } else if (tr.dataset.key !== key) {
        fillRow(tr, p);
      } else {
        tr.querySelector(".qc-on-task").textContent = duration(p.timeOnTask);
        tr.querySelector(".qc-heartbeat").textContent = ago(p.sinceHeartbeat);
        tr.querySelector(".qc-done").textContent = p.completedToday;
      }
      var next = previous ? previous.nextSibling : body.firstChild;
      if (next !== tr) body.insertBefore(tr, next);
      previous = tr;
    });
    Object.keys(existing).forEach(function (id) {
      body.removeChild(existing[id]);
    });
    $("qc-nobody").hidden = d.people.rows.length > 0;
    $("qc-people-results").hidden = d.people.rows.length === 0;
    return true;
  }

  function renderAssigners(d) {
    var table = $("qc-assigners-table");
    var body = table.tBodies[0];
    body.textContent = "";
    d.assigners.forEach(function (a) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = a.name;
      tr.appendChild(th);
      [
        a.sinceLastCycle === null ? gettext("never") : ago(a.sinceLastCycle),
        fmt(gettext("%(s)s s"), { s: number(a.lastCycleSeconds, 3) }),
        a.cycles,
      ].forEach(function (text) {
        var td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.hidden = d.assigners.length === 0;
    $("qc-no-assigner").hidden = d.assigners.length > 0;
  }

  // As tasks/templatetags/qc_admin.percent: a share (0 to 1) as a whole percentage, in the
  // page's language's way (25%, 25 %).
  var PERCENT = new Intl.NumberFormat(LANG, { style: "percent", maximumFractionDigits: 0 });
  function percent(share) {
    if (share === null || share === undefined) return "\u2014";
    return PERCENT.format(share);
  }

  function cell(tag, text) {
    var el = document.createElement(tag);
    if (tag === "th") el.scope = "row";
    el.textContent = text;
    return el;
  }

  function emptyRow(body, columns, text) {
    var tr = document.createElement("tr");
    var td = cell("td", text);
    td.colSpan = columns;
    tr.appendChild(td);
    body.appendChild(tr);
  }

  function renderOutcomes(d) {
    var o = d.outcomes;
    if (!o || !$("qc-reviews-pass")) return;
    setText("qc-reviews-pass", o.pass);
    setText("qc-reviews-fail", o.fail);
    setText("qc-fail-rate", percent(o.failRate));
    setText("qc-disputes", o.disputesWaiting);
    $("qc-disputes-card").classList.toggle("qc-attention", o.disputesWaiting > 0);
    var defects = $("qc-top-defects").tBodies[0];
    defects.textContent = "";
    o.topDefects.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.appendChild(cell("th", row.code));
      tr.appendChild(cell("td", row.description || "\u2014"));
      tr.appendChild(cell("td", row.n));
      defects.appendChild(tr);
    });
    if (!o.topDefects.length) emptyRow(defects, 3, gettext("No defect logged."));
    var reviewers = $("qc-reviewers").tBodies[0];
    reviewers.textContent = "";
    o.reviewers.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.person = r.id;
      var th = cell("th", "");
      var link = document.createElement("a");
      link.href = urlFor(config.personUrl, r.id);
      link.textContent = r.name;
      th.appendChild(link);
      tr.appendChild(th);
      tr.appendChild(cell("td", r.reviews));
      tr.appendChild(cell("td", percent(r.failRate)));
      tr.appendChild(
        cell(
          "td",
          r.compared
            ? fmt(gettext("%(share)s of %(n)s"), { share: percent(r.agreement), n: r.compared })
            : "\u2014"
        )
      );
      reviewers.appendChild(tr);
    });
    if (!o.reviewers.length) emptyRow(reviewers, 4, gettext("No review in the window."));
  }

  // --- the charts ---

  function chartData(d, which) {
    var c = d.charts;
    var from = Math.max(0, c.hours.length - state.hours - 1);
    var cut = function (list) {
      return list.slice(from);
    };
    if (which === "flow") return [cut(c.hours), cut(c.created), cut(c.completed)];
    return [cut(c.hours), cut(c.waitP50), cut(c.waitP90)];
  }

  function chartWidth(el) {
    return Math.max(300, el.clientWidth - 4);
  }

  function makeChart(id, which, series, axisValues) {
    var el = $(id);
    if (!el || typeof uPlot === "undefined") return null;
    var opts = {
      width: chartWidth(el),
      height: 220,
      tzDate: function (ts) {
        return uPlot.tzDate(new Date(ts * 1000), config.timeZone);
      },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max) * 1.1]; } } },
      series: [
        {
          label: gettext("Time"),
          value: function (u, ts) {
            return ts === null || ts === undefined ? "\u2014" : DAY_MONTH_TIME.format(new Date(ts * 1000));
          },
        },
      ].concat(series),
      axes: [
        {
          values: function (u, splits) {
            return splits.map(axisTime);
          },
        },
        { values: axisValues, size: 70 },
      ],
      legend: { live: true },
    };
    return new uPlot(opts, chartData(state.data, which), el);
  }

  function renderCharts(d) {
    if (typeof uPlot === "undefined") return;
    if (!state.charts.flow) {
      var count = function (u, v) {
        return v === null || v === undefined ? "\u2014" : String(v);
      };
      state.charts.flow = makeChart(
        "qc-chart-flow",
        "flow",
        [
          { label: gettext("Created"), stroke: "#417690", width: 2, value: count },
          { label: gettext("Completed"), stroke: "#e07b00", width: 2, value: count },
        ],
        function (u, values) {
          return values.map(function (v) {
            return number(v, v % 1 ? 1 : 0);
          });
        }
      );
      var wait = function (u, v) {
        return duration(v);
      };
      state.charts.wait = makeChart(
        "qc-chart-wait",
        "wait",
        [
          { label: gettext("Median"), stroke: "#417690", width: 2, value: wait, points: { show: true, size: 4 } },
          { label: "p90", stroke: "#c0392b", width: 2, dash: [6, 4], value: wait, points: { show: true, size: 4 } },
        ],
        function (u, values) {
          return values.map(axisDuration);
        }
      );
      window.addEventListener("resize", function () {
        ["flow", "wait"].forEach(function (k) {
          var chart = state.charts[k];
          if (chart) chart.setSize({ width: chartWidth(chart.root.parentNode), height: 220 });
        });
      });
      return;
    }
    state.charts.flow.setData(chartData(d, "flow"));
    state.charts.wait.setData(chartData(d, "wait"));
  }

  // --- refreshing ---

  function render(d) {
    state.data = d;
    renderCards(d);
    renderPeople(d);
    renderAssigners(d);
    renderOutcomes(d);
    renderCharts(d);
  }

  function showAge() {
    var el = $("qc-updated");
    var age = { duration: duration(Math.round((Date.now() - state.updatedAt) / 1000)) };
    if (state.paused) {
      el.textContent = fmt(gettext("Paused; updated %(duration)s ago"), age);
      el.className = "";
      return;
    }
    el.textContent = state.failures
      ? fmt(gettext("Updated %(duration)s ago (cannot reach the server; retrying)"), age)
      : fmt(gettext("Updated %(duration)s ago"), age);
    el.className = state.failures ? "stale" : "";
  }

  function schedule(seconds) {
    clearTimeout(state.timer);
    if (!state.paused) state.timer = setTimeout(refresh, seconds * 1000);
  }

  function refresh() {
    var controller = new AbortController();
    var timeout = setTimeout(function () {
      controller.abort();
    }, REQUEST_TIMEOUT_MS);
    var url = config.dataUrl + "?window=" + encodeURIComponent(state.window);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", signal: controller.signal })
      .then(function (response) {
        if (response.status === 403 || response.redirected) {
          // Signed out, or the permission is gone: the page says so on a reload.
          location.reload();
          throw new Error("signed out");
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (d) {
        state.failures = 0;
        state.updatedAt = Date.now();
        render(d);
        schedule(config.refreshSeconds);
      })
      .catch(function () {
        state.failures += 1;
        schedule(Math.min(MAX_BACKOFF_S, config.refreshSeconds * Math.pow(2, state.failures - 1)));
      })
      .finally(function () {
        clearTimeout(timeout);
        showAge();
      });
  }

  function setPaused(paused) {
    state.paused = paused;
    var button = $("qc-pause");
    button.setAttribute("aria-pressed", String(paused));
    button.textContent = paused ? gettext("Resume") : gettext("Pause");
    if (paused) clearTimeout(state.timer);
    else refresh();
    showAge();
  }

  function init() {
    var pause = $("qc-pause");
    pause.hidden = false;
    pause.addEventListener("click", function () {
      setPaused(!state.paused);
    });
    document.querySelectorAll(".qc-windows a").forEach(function (a) {
      a.addEventListener("click", function (event) {
        event.preventDefault();
        state.window = a.dataset.window;
        history.replaceState(null, "", "?window=" + encodeURIComponent(state.window));
        document.querySelectorAll("#qc-people-table input[name=next]").forEach(function (input) {
          input.value = location.pathname + location.search;
        });
        refresh();
      });
    });
    document.querySelectorAll(".qc-span").forEach(function (button) {
      button.addEventListener("click", function () {
        state.hours = Number(button.dataset.hours);
        document.querySelectorAll(".qc-span").forEach(function (b) {
          b.setAttribute("aria-pressed", String(b === button));
        });
        renderCharts(state.data);
      });
    });
    // A hidden tab does not poll; it catches up when it is looked at again.
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) clearTimeout(state.timer);
      else if (!state.paused) refresh();
    });
    renderCharts(state.data);
    setInterval(showAge, 1000);
    showAge();
    schedule(config.refreshSeconds);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

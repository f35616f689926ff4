// What htmx does not do by itself:
// 1. keep what a person is typing, an open menu and the focus when a live region refreshes
//    (text fields carry hx-preserve: htmx moves the very element into the new region, so a key
//    typed during the swap is never lost; the rest is captured before and restored after);
// 2. keep countdowns current between refreshes (colours come from the server);
// 3. copy a quick reply with one click; clear a note form once it is sent;
// 4. say so when the server cannot be reached;
// 5. poll only while the page is seen, and catch up at once when it is seen again;
// 6. on a new handoff, preselect the team its kind goes to.
// No inline script and no eval anywhere (htmx runs with allowEval off): the pages send a
// Content-Security-Policy with script-src 'self'.
(function () {
  "use strict";

  // --- 1. live regions keep the person's state ------------------------------------
  var kept = {};

  function isTyped(el) {
    if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") {
      // With no option marked selected, the browser shows the first: that one is the default.
      var marked = Array.prototype.some.call(el.options, function (o) { return o.defaultSelected; });
      return Array.prototype.some.call(el.options, function (o, i) {
        return o.selected !== (marked ? o.defaultSelected : i === 0);
      });
    }
    return el.value !== el.defaultValue;
  }

  function capture(root) {
    var state = { fields: [], open: [], focus: null };
    root.querySelectorAll("input[id], textarea[id], select[id]").forEach(function (el) {
      if (el.type === "hidden" || el.type === "file") return;
      if (isTyped(el) || el === document.activeElement) {
        state.fields.push({
          id: el.id, value: el.value, checked: el.checked,
          start: el.selectionStart, end: el.selectionEnd, element: el,
        });
      }
    });
    root.querySelectorAll("details[id][open]").forEach(function (el) { state.open.push(el.id); });
    if (document.activeElement && root.contains(document.activeElement) && document.activeElement.id) {
      state.focus = document.activeElement.id;
    }
    return state;
  }

  function restore(state) {
    state.open.forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.open = true;
    });
    state.fields.forEach(function (saved) {
      var el = document.getElementById(saved.id);
      // A field marked hx-preserve was moved, not replaced: it kept every key typed meanwhile,
      // its caret and its focus, so writing the value captured before the swap would lose keys.
      if (!el || el === saved.element) return;
      if (el.type === "checkbox" || el.type === "radio") el.checked = saved.checked;
      else el.value = saved.value;
      if (saved.id === state.focus) {
        el.focus({ preventScroll: true });
        try { el.setSelectionRange(saved.start, saved.end); } catch (e) { /* not a text field */ }
      }
    });
    if (state.focus && !state.fields.some(function (f) { return f.id === state.focus; })) {
      var focused = document.getElementById(state.focus);
      if (focused && focused !== document.activeElement) focused.focus({ preventScroll: true });
    }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.hasAttribute("data-live") && target.id) kept[target.id] = capture(target);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    var id = target && target.id;
    if (id && kept[id]) {
      restore(kept[id]);
      delete kept[id];
    }
    startCountdowns();
  });

  // The board's poll sends the ids of open card menus, so they come back open and filled.
  function openCardMenus() {
    return Array.prototype.map.call(
      document.querySelectorAll("#board details.card-actions[open]"),
      function (el) { return el.id.split("-")[1]; }
    ).join(",");
  }
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "board") {
      event.detail.parameters.open = openCardMenus();
      var tab = boardTab();
      if (tab) event.detail.parameters.tab = tab;
    }
  });

  // On a phone the board shows one column at a time; its tabs choose which (kept for this tab of the browser).
  document.documentElement.classList.add("js");
  function boardTab() {
    try { return sessionStorage.getItem("boardTab") || ""; } catch (e) { return ""; }
  }
  function showBoardTab(board, tab) {
    if (!board || !tab || !board.querySelector('.column[data-state="' + tab + '"]')) return;
    board.dataset.tab = tab;
    board.querySelectorAll(".column").forEach(function (column) {
      column.classList.toggle("is-current", column.dataset.state === tab);
    });
    board.querySelectorAll(".board-tab").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.tab === tab ? "true" : "false");
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".board-tab");
    if (!button) return;
    try { sessionStorage.setItem("boardTab", button.dataset.tab); } catch (e) { /* private mode: this page only */ }
    showBoardTab(button.closest("#board"), button.dataset.tab);
  });
  function applyStoredTab() { showBoardTab(document.getElementById("board"), boardTab()); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", applyStoredTab);
  else applyStoredTab();

  // --- 2. countdowns -----------------------------------------------------------------
  var formats = {};
  try { formats = JSON.parse(document.body.dataset.durationFormats || "{}"); } catch (e) { formats = {}; }

  function formatDuration(seconds) {
    var minutes = Math.floor(Math.abs(seconds) / 60);
    var d = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
    var fill = function (pattern) {
      return (pattern || "").replace("{d}", d).replace("{h}", h).replace("{m}", h ? String(m).padStart(2, "0") : m);
    };
    if (d) return fill(formats.dh || "{d}d {h}h");
    if (h) return fill(formats.hm || "{h}h {m}m");
    return fill(formats.m || "{m}m");
  }

  function serverSkew() {
    // Deadlines are the server's: measure against its clock, not this computer's.
    var region = document.querySelector("[data-server-now]");
    if (!region) return 0;
    if (!region.dataset.loadedAt) region.dataset.loadedAt = String(Date.now());
    return Date.parse(region.dataset.serverNow) - Number(region.dataset.loadedAt);
  }

  function tick() {
    var now = Date.now() + serverSkew();
    document.querySelectorAll("time.countdown[datetime]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) return;
      var pattern = el.dataset.pattern || "{t}";
      el.textContent = pattern.replace("{t}", formatDuration((due - now) / 1000));
    });
  }

  var timer = null;
  function startCountdowns() {
    serverSkew();
    if (!timer) timer = window.setInterval(tick, 30000);
  }
  document.addEventListener("DOMContentLoaded", startCountdowns);

  // --- 3. copy and reset ---------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-from]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copyFrom);
    if (!source) return;
    var text = source.textContent.trim();
    var done = function () {
      var before = button.textContent;
      button.textContent = button.dataset.copied || "Copied";
      window.setTimeout(function () { button.textContent = before; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  });

  function fallbackCopy(text) {
    // Intranet pages are often plain http, where the clipboard API is not offered.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    area.remove();
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    var failed = event.detail.xhr && /flash-error/.test(event.detail.xhr.responseText || "");
    if (form && form.matches && form.matches("form[data-reset-on-success]") && event.detail.successful && !failed) {
      form.reset();
    }
  });

  // --- 4. offline ------------------------------------------------------------------------
  function say(message) {
    var flash = document.getElementById("flash");
    if (!flash) return;
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.textContent = message;
    p.dataset.offline = "1";
    flash.replaceChildren(p);
  }
  document.addEventListener("htmx:sendError", function () {
    say(document.body.dataset.offlineMessage || "The server cannot be reached; retrying.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful) return;
    var stale = document.querySelector("#flash [data-offline]");
    if (stale) stale.remove();
  });

  // --- 5. polls only while the page is seen ------------------------------------------------
  // A live region polls with "every Ns"; a hidden tab skips those polls, and the region
  // refreshes at once (its "refresh" trigger) when the tab is shown again.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var polling = elt && elt.hasAttribute && elt.hasAttribute("data-live") && !event.detail.requestConfig.triggeringEvent;
    if (polling && document.visibilityState !== "visible") event.preventDefault();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    document.querySelectorAll("[data-live]").forEach(function (el) { window.htmx.trigger(el, "refresh"); });
  });

  // --- 6. a new handoff: choosing a kind preselects the team it goes to ----------------------
  document.addEventListener("change", function (event) {
    var kind = event.target;
    var form = kind.form;
    if (kind.name !== "kind" || !form || !form.dataset.kindTeams) return;
    var teams = {};
    try { teams = JSON.parse(form.dataset.kindTeams); } catch (e) { return; }
    var team = form.elements.namedItem("owed_team_id");
    if (team && teams[kind.value]) team.value = String(teams[kind.value]);
  });
})();

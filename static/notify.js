// The header's counters beyond htmx (templates/main/_counters.html carries the data):
// 1. the tab's title starts with the number of what waits for me, "(3) …", and loses it at 0;
// 2. a new urgent item (a case assigned to me, a compensation waiting for my decision, a handoff to my team)
//    plays a short sound and shows a browser notification, each when the person switched it on
//    (/auth/notifications). "New" is decided by a marker the server sends per counter, which only grows:
//    the last one announced is kept in localStorage (shared by the person's tabs), so a reload or a second
//    tab does not announce the same item again; a browser with nothing kept starts from what is there now;
// 3. the browser's permission to notify is asked only when the person ticks the box (a click);
// 4. after any action on the page (a POST, whatever event it announces) the header refreshes at once,
//    so its numbers never lag behind the page that just changed.
// No inline script, no eval (the CSP allows script-src 'self' only); the sound is made with the Web Audio API.
(function () {
  "use strict";

  var REGION = "header-counters";
  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");

  // --- 1. the tab's title -------------------------------------------------------------------
  function showCount(region) {
    var count = parseInt(region.dataset.titleCount || "0", 10) || 0;
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  // --- 2. announcing new items -----------------------------------------------------------------
  function storage() {
    try { return window.localStorage; } catch (e) { return null; } // blocked storage: announce nothing twice rather than always
  }

  function newItems(region) {
    var store = storage();
    var fresh = [];
    if (!store || !region.dataset.user) return fresh;
    region.querySelectorAll("[data-news-marker]").forEach(function (counter) {
      var key = "desk.notify." + region.dataset.user + "." + counter.dataset.counter;
      var marker = parseInt(counter.dataset.newsMarker, 10) || 0;
      var seen = store.getItem(key);
      if (seen === null) { // first time in this browser: the starting point, nothing older is news
        store.setItem(key, String(marker));
        return;
      }
      if (marker <= (parseInt(seen, 10) || 0)) return;
      store.setItem(key, String(marker));
      if (counter.dataset.newsText) {
        fresh.push({ key: key, marker: marker, text: counter.dataset.newsText, url: counter.dataset.newsUrl || counter.href });
      }
    });
    return fresh;
  }

  var audio = null;
  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    return audio;
  }
  // Browsers start sound only after the person used the page once: wake the audio on the first click or key.
  function wakeAudio() {
    var context = audioContext();
    if (context && context.state === "suspended") context.resume();
  }
  document.addEventListener("pointerdown", wakeAudio, { once: true, capture: true });
  document.addEventListener("keydown", wakeAudio, { once: true, capture: true });

  function beep() {
    var context = audioContext();
    if (!context) return false;
    if (context.state === "suspended") context.resume();
    var start = context.currentTime + 0.01;
    [880, 1320].forEach(function (frequency, i) { // two short rising tones, about a third of a second
      var tone = context.createOscillator();
      var volume = context.createGain();
      tone.type = "sine";
      tone.frequency.value = frequency;
      volume.gain.setValueAtTime(0.0001, start + i * 0.16);
      volume.gain.exponentialRampToValueAtTime(0.25, start + i * 0.16 + 0.02);
      volume.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.16 + 0.15);
      tone.connect(volume).connect(context.destination);
      tone.start(start + i * 0.16);
      tone.stop(start + i * 0.16 + 0.16);
    });
    return true;
  }

  function notify(item) {
    if (!("Notification" in window) || window.Notification.permission !== "granted") return false;
    var shown = new window.Notification(item.text, { tag: item.key + "." + item.marker, lang: document.documentElement.lang });
    shown.onclick = function () {
      window.focus();
      window.location.assign(item.url);
      shown.close();
    };
    return true;
  }

  function announce(region) {
    var fresh = newItems(region);
    if (!fresh.length) return;
    var sound = region.dataset.sound === "on" && beep();
    var shown = region.dataset.notify === "on" ? fresh.filter(notify).length : 0;
    // For tests and anyone curious: what was announced, and how.
    document.dispatchEvent(new CustomEvent("desk:announced", { detail: { items: fresh, sound: !!sound, notifications: shown } }));
  }

  function counted(region) {
    if (!region || region.id !== REGION || region.dataset.titleCount === "") return; // the placeholder before the first load
    showCount(region);
    announce(region);
  }

  document.addEventListener("htmx:load", function (event) { counted(event.detail.elt); });

  // --- 3. asking the browser's permission, on the person's click only -----------------------------
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-notification-permission]")) return;
    var state = document.getElementById("notification-permission-state");
    var say = function (message) { if (state) state.textContent = message || ""; };
    if (!box.checked) { say(""); return; }
    if (!("Notification" in window)) { say(box.dataset.unsupportedMessage); return; }
    if (window.Notification.permission === "granted") { say(""); return; }
    if (window.Notification.permission === "denied") { say(box.dataset.deniedMessage); return; }
    var answered = function (permission) { say(permission === "denied" ? box.dataset.deniedMessage : ""); };
    var asked = window.Notification.requestPermission(answered); // older browsers answer by callback only
    if (asked && asked.then) asked.then(answered);
  });

  // --- 4. the header follows every action -------------------------------------------------------
  document.addEventListener("htmx:afterRequest", function (event) {
    var config = event.detail.requestConfig;
    if (!event.detail.successful || !config || (config.verb || "get").toLowerCase() === "get" || !window.htmx) return;
    var region = document.getElementById(REGION);
    if (region) window.htmx.trigger(region, "refresh");
  });
})();

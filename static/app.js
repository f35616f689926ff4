// Small behaviours htmx does not give: tell the person when the server cannot be reached.
(function () {
  "use strict";
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
    // A successful poll after an outage clears the outage message.
    if (event.detail.successful) {
      var flash = document.getElementById("flash");
      var stale = flash && flash.querySelector("[data-offline]");
      if (stale) stale.remove();
    }
  });
})();

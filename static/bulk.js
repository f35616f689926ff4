// The list's bulk form: "select all on this page" ticks every row, and unticking a row unticks it.
// Without this script the server reads "select all on this page" itself (the form sends every row shown).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var box = event.target;
    var form = box.form;
    if (!form || form.id !== "bulk-form" || box.type !== "checkbox") return;
    var all = form.querySelector("input[data-check-all]");
    var rows = form.querySelectorAll("input[name=rows]");
    if (box === all) {
      rows.forEach(function (row) { row.checked = all.checked; });
    } else if (box.name === "rows" && all) {
      all.checked = Array.prototype.every.call(rows, function (row) { return row.checked; });
    }
  });
})();

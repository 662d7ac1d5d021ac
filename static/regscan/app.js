// Small progressive enhancements only; every page works without JavaScript.
(function () {
  "use strict";

  // Row selection on My Integrations: select-all, a count, and Scan Now enabled only with a selection.
  function setupSelection() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    // The table may be replaced by polling: look the select-all box up each time.
    function all() { return form.querySelector("[data-select-all]"); }
    var button = document.querySelector("[data-bulk-scan]");
    var counter = document.querySelector("[data-selected-count]");
    function boxes() { return Array.prototype.slice.call(form.querySelectorAll("input.row-select")); }
    function update() {
      var n = boxes().filter(function (b) { return b.checked; }).length;
      boxes().forEach(function (b) { b.closest("tr").classList.toggle("selected", b.checked); });
      if (button) button.disabled = n === 0;
      if (counter) counter.textContent = n ? n + " selected" : "";
      if (all()) all().checked = n > 0 && n === boxes().length;
    }
    form.addEventListener("change", function (e) {
      if (e.target === all()) boxes().forEach(function (b) { b.checked = e.target.checked; });
      update();
    });
    update();
  }

  // Close an open row menu when clicking elsewhere or pressing Escape.
  function setupMenus() {
    document.addEventListener("click", function (e) {
      document.querySelectorAll("details.rowmenu[open]").forEach(function (d) {
        if (!d.contains(e.target)) d.removeAttribute("open");
      });
    });
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") return;
      document.querySelectorAll("details.rowmenu[open]").forEach(function (d) {
        d.removeAttribute("open");
        d.querySelector("summary").focus();
      });
    });
  }

  // While a scan runs, refresh the integrations table every few seconds (keeps selections).
  function setupPolling() {
    var form = document.querySelector("[data-poll-running]");
    if (!form || !window.fetch || !window.DOMParser) return;
    function running() { return form.querySelector("tr[data-running]"); }
    function busy() { return form.querySelector("details.rowmenu[open]") || form.querySelector(".tip:focus"); }
    function refresh() {
      if (!running()) return;
      if (busy()) { setTimeout(refresh, 3000); return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.querySelector("[data-poll-running]");
          if (!fresh) return;
          var checked = Array.prototype.map.call(form.querySelectorAll("input.row-select:checked"), function (b) { return b.value; });
          var csrf = form.querySelector("[name=csrfmiddlewaretoken]");
          form.innerHTML = fresh.innerHTML;
          if (csrf) form.querySelector("[name=csrfmiddlewaretoken]").value = csrf.value;
          form.querySelectorAll("input.row-select").forEach(function (b) { b.checked = checked.indexOf(b.value) !== -1; });
          form.dispatchEvent(new Event("change"));
        })
        .finally(function () { setTimeout(refresh, 3000); });
    }
    setTimeout(refresh, 3000);
  }

  // Wizard schedule fields: show only the inputs of the chosen schedule kind.
  function setupSchedule() {
    var kind = document.getElementById("id_schedule_kind");
    if (!kind) return;
    function update() {
      document.querySelectorAll("[data-show-for]").forEach(function (el) {
        el.hidden = el.getAttribute("data-show-for").split(" ").indexOf(kind.value) === -1;
      });
    }
    kind.addEventListener("change", update);
    update();
  }

  // Risk acceptance: the repository choice only matters for the repository scope.
  function setupAcceptance() {
    var form = document.querySelector("[data-accept-form]");
    if (!form) return;
    var repo = form.querySelector("#id_repository");
    function update() {
      var scope = form.querySelector("input[name=scope]:checked");
      if (repo) repo.closest(".field").hidden = !scope || scope.value !== "repository";
    }
    form.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupSelection(); setupMenus(); setupPolling(); setupSchedule(); setupAcceptance();
  });
})();

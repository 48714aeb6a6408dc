// Dashboard controls: keeps a page's control panel fresh after live pushes, and fills in
// the staff member's time zone on the tournament form.
(function () {
  "use strict";

  // The tournament page with controls: the hub's pushed board lands in a hidden sink;
  // the panel (this user's buttons) is fetched again, unless someone is typing in it
  // (then once they leave the field).
  var pending = false;
  function refresh() {
    var panel = document.getElementById("tournament-panel");
    if (!panel || !window.htmx) return;
    var active = document.activeElement;
    if (active && panel.contains(active) && (active.tagName === "INPUT" || active.tagName === "SELECT")) {
      if (!pending) {
        pending = true;
        active.addEventListener("blur", function () { pending = false; refresh(); }, { once: true });
      }
      return;
    }
    window.htmx.trigger(panel, "board-changed");
  }
  document.addEventListener("htmx:wsAfterMessage", refresh);

  // The tournament form: preselect the browser's time zone (and remember it for next time).
  function zone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { return "UTC"; }
  }
  function utcHints() {
    var select = document.querySelector("select[name=time_zone]");
    if (!select) return;
    if (select.dataset.auto === "1" && select.value === "UTC" && zone() !== "UTC") {
      if (Array.prototype.some.call(select.options, function (o) { return o.value === zone(); })) {
        select.value = zone();
      }
    }
    document.cookie = "tz=" + encodeURIComponent(select.value) + "; path=/dashboard/; SameSite=Lax";
    select.addEventListener("change", function () {
      document.cookie = "tz=" + encodeURIComponent(select.value) + "; path=/dashboard/; SameSite=Lax";
      show();
    });
    function show() {
      document.querySelectorAll("input[type=datetime-local]").forEach(function (input) {
        var hint = document.querySelector("[data-utc-for='" + input.name + "']");
        if (!hint) return;
        if (!input.value || select.value !== zone()) return; // the server's hint stands
        var when = new Date(input.value);
        if (!isNaN(when)) hint.textContent = when.toISOString().slice(0, 16).replace("T", " ") + " UTC";
      });
    }
    document.querySelectorAll("input[type=datetime-local]").forEach(function (input) {
      input.addEventListener("input", show);
    });
    show();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", utcHints);
  else utcHints();
})();

// Dashboard controls: keeps a page's control panel fresh after live pushes, and fills in
// the staff member's time zone on the tournament form.
(function () {
  "use strict";

  // The tournament page with controls: the hub's pushed board lands in a hidden sink;
  // the panel (this user's buttons) is fetched again, unless someone is typing in it
  // (then once they leave the field; a refresh already on its way is not swapped in).
  // The member search ([data-kept], hx-preserve) is carried over whole by htmx: typing in
  // it holds nothing back where the browser moves nodes keeping their focus (moveBefore).
  var deferred = false;
  var movesKeepFocus = typeof Element !== "undefined" && "moveBefore" in Element.prototype;
  function typing(panel) {
    var active = document.activeElement;
    if (!active || !panel.contains(active) || !/^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return false;
    return !(movesKeepFocus && active.closest("[data-kept]"));
  }
  var retry = null;
  function refresh() {
    var panel = document.getElementById("tournament-panel");
    if (!panel || !window.htmx) return;
    if (typing(panel)) { deferred = true; return; }
    deferred = false;
    if (panel.classList.contains("htmx-request")) {
      // One already on its way may have been read before this news, and htmx drops a
      // second request from the same element: ask again once it is in.
      if (!retry) retry = setTimeout(function () { retry = null; refresh(); }, 150);
      return;
    }
    window.htmx.trigger(panel, "board-changed");
  }
  document.addEventListener("htmx:wsAfterMessage", refresh);
  document.addEventListener("focusout", function () {
    if (deferred) setTimeout(refresh, 0);
  });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var panel = document.getElementById("tournament-panel");
    var config = evt.detail.requestConfig;
    if (!panel || evt.detail.target !== panel || !config) return;
    if (config.verb === "get" && typing(panel)) {
      evt.detail.shouldSwap = false;
      deferred = true;
    } else if (config.verb !== "get" && evt.detail.shouldSwap) {
      // A control's answer replaces the panel: a refresh on its way would land in the
      // replaced one (and take the kept search with it), so it is called off.
      window.htmx.trigger(panel, "htmx:abort");
    }
  });

  // A registration went through: its search is done, wherever the answer landed (a
  // refresh may have replaced the panel it was meant for, keeping the search as found).
  document.addEventListener("htmx:afterRequest", function (evt) {
    var config = evt.detail.requestConfig, xhr = evt.detail.xhr;
    if (!config || config.verb !== "post" || !xhr || xhr.status !== 200) return;
    if (!/\/tournaments\/\d+\/register$/.test(config.path)) return;
    var search = document.getElementById("register-search");
    var found = document.getElementById("register-found");
    if (search) search.value = "";
    if (found) found.innerHTML = "";
  });

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

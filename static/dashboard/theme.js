// Theme switcher: localStorage "concord-theme" = "light" | "dark"; unset means follow the OS.
// Load it early (in <head>) to avoid a flash of the wrong theme.
(function () {
  "use strict";
  var KEY = "concord-theme";
  var root = document.documentElement;

  function stored() {
    try {
      var v = localStorage.getItem(KEY);
      return v === "light" || v === "dark" ? v : null;
    } catch (e) { return null; }
  }
  function current() {
    if (root.dataset.theme === "light" || root.dataset.theme === "dark") return root.dataset.theme;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function label() {
    var btns = document.querySelectorAll("[data-theme-toggle]");
    var next = current() === "dark" ? "light" : "dark";
    for (var i = 0; i < btns.length; i++) {
      btns[i].setAttribute("aria-label", "Switch to " + next + " theme");
      btns[i].title = "Switch to " + next + " theme";
    }
  }

  var initial = stored();
  if (initial) root.dataset.theme = initial;

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest("[data-theme-toggle]");
    if (!btn) return;
    ev.preventDefault();
    var next = current() === "dark" ? "light" : "dark";
    root.dataset.theme = next;
    try { localStorage.setItem(KEY, next); } catch (e) { /* private mode: theme just won't persist */ }
    label();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", label);
  else label();
})();

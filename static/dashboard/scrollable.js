// A region that scrolls sideways (a wide table or the story map on a phone) can be
// reached and scrolled with the keyboard: it gets tabindex=0 while it overflows.
(function () {
  var SELECTOR = "table.table, .table-wrap, .story-map-wrap";
  function mark() {
    document.querySelectorAll(SELECTOR).forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) {
        if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
      } else if (el.getAttribute("tabindex") === "0") {
        el.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", mark);
  window.addEventListener("resize", mark);
  document.addEventListener("htmx:afterSettle", mark);
  document.addEventListener("htmx:oobAfterSwap", mark);
})();

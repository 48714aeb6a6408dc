// The activity feed: filter buttons (kept per browser), and a highlight only for rows that
// arrived after the page had them (the whole list is swapped on every live update).
(function () {
  var KEY = "concord.feed.show";
  function wrap() { return document.querySelector(".feed-wrap"); }
  function show(value) {
    var box = wrap();
    if (!box) return;
    box.dataset.feedShow = value;
    box.querySelectorAll("[data-feed-filter]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.feedFilter === value));
    });
    try { localStorage.setItem(KEY, value); } catch (e) { /* private mode */ }
  }
  var newest = 0;
  function seqs(list) {
    return Array.prototype.map.call(list.querySelectorAll(".feed-item"), function (item) {
      return Number(item.dataset.seq) || 0;
    });
  }
  function mark(list) {
    var before = newest;
    list.querySelectorAll(".feed-item").forEach(function (item) {
      var seq = Number(item.dataset.seq) || 0;
      if (before && seq > before) item.classList.add("new");
      if (seq > newest) newest = seq;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = wrap();
    if (!box) return;
    var list = document.getElementById("feed");
    if (list) newest = Math.max.apply(null, [0].concat(seqs(list)));
    box.addEventListener("click", function (event) {
      var button = event.target.closest("[data-feed-filter]");
      if (button) show(button.dataset.feedFilter);
    });
    var saved = null;
    try { saved = localStorage.getItem(KEY); } catch (e) { /* private mode */ }
    var known = Array.prototype.some.call(box.querySelectorAll("[data-feed-filter]"), function (b) {
      return b.dataset.feedFilter === saved;
    });
    if (known) show(saved);
    new MutationObserver(function () {
      var swapped = document.getElementById("feed");
      if (swapped && !swapped.dataset.marked) {
        swapped.dataset.marked = "1";
        mark(swapped);
      }
    }).observe(box, { childList: true });
  });
})();

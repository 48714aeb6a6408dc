// Leaderboard overlay: renders "leaderboard" snapshots into #stage, animating only what changed.
(function () {
  "use strict";
  var O = window.ConcordOverlay;
  var MOVE_MS = 400, COUNT_MS = 600, LEAVE_MS = 420, NAME_MIN = 0.6;

  var stage, list, titleEl, limit, currency;
  var rowsById = new Map();   // member_id (string) -> <li.lb-row>

  function setup() {
    stage = O.stage() || document.getElementById("stage");
    if (!stage) return;
    var scope = stage.dataset.scope || "";
    currency = scope.indexOf("leaderboard:") === 0 ? scope.slice("leaderboard:".length) : "";
    limit = parseInt(stage.dataset.limit, 10);
    if (!(limit > 0)) limit = 10;

    var panel = document.createElement("section");
    panel.className = "panel lb";
    titleEl = document.createElement("div");
    titleEl.className = "lb-title";
    setTitle(currency);
    list = document.createElement("ol");
    list.className = "lb-rows";
    panel.appendChild(titleEl);
    panel.appendChild(list);
    stage.appendChild(panel);

    O.start({ onLeaderboard: render });
  }

  function setTitle(code) {
    titleEl.textContent = code ? code.toUpperCase() + " LEADERBOARD" : "LEADERBOARD";
  }

  function makeRow(id) {
    var li = document.createElement("li");
    li.className = "lb-row";
    li.dataset.memberId = id;
    ["lb-rank", "lb-name", "lb-amount"].forEach(function (cls) {
      var span = document.createElement("span");
      span.className = cls;
      li.appendChild(span);
    });
    return li;
  }

  function part(li, cls) { return li.querySelector("." + cls); }

  // Count the displayed amount from its current value to the target, then flash.
  function animateAmount(li, target) {
    var el = part(li, "lb-amount");
    var from = li._shown != null ? li._shown : target;
    cancelAnimationFrame(li._raf);
    clearTimeout(li._countTimer);
    el.classList.remove("flash-up", "flash-down");
    void el.offsetWidth; // restart the flash animation
    el.classList.add(target >= from ? "flash-up" : "flash-down");
    var t0 = performance.now();
    function finish() {
      cancelAnimationFrame(li._raf);
      clearTimeout(li._countTimer);
      li._shown = target;
      el.textContent = O.formatNumber(target);
    }
    function frame(now) {
      var p = Math.min(1, (now - t0) / COUNT_MS);
      if (p >= 1) return finish();
      var eased = 1 - Math.pow(1 - p, 3);
      li._shown = from + (target - from) * eased;
      el.textContent = O.formatNumber(li._shown);
      li._raf = requestAnimationFrame(frame);
    }
    li._raf = requestAnimationFrame(frame);
    // rAF may be throttled (hidden source); make sure the final value always lands.
    li._countTimer = setTimeout(finish, COUNT_MS + 150);
  }

  function render(msg) {
    if (!list || !msg || !Array.isArray(msg.rows)) return;
    if (currency && msg.currency && msg.currency !== currency) return; // another board
    if (!currency && msg.currency) setTitle(msg.currency);

    var scale = O.stageScale();
    var rows = [], ids = new Set();
    for (var i = 0; i < msg.rows.length && rows.length < limit; i++) {
      var r = msg.rows[i];
      var id = String(r.member_id);
      if (ids.has(id)) continue;
      ids.add(id);
      rows.push(r);
    }

    // FIRST: where every current row is now (visually, including in-flight transforms).
    var first = new Map();
    rowsById.forEach(function (li, id) { first.set(id, li.getBoundingClientRect().top); });

    // Rows that dropped out: pin them where they are and fade them out.
    rowsById.forEach(function (li, id) {
      if (ids.has(id)) return;
      rowsById.delete(id);
      cancelAnimationFrame(li._raf);
      clearTimeout(li._countTimer);
      li.style.top = li.offsetTop + "px";
      li.style.transition = "none";
      li.style.transform = "";
      li.classList.remove("enter");
      li.classList.add("leaving");
      delete li.dataset.memberId;
      setTimeout(function () { if (li.parentNode) li.parentNode.removeChild(li); }, LEAVE_MS);
    });

    // Apply the new order.
    var empty = list.querySelector(".lb-empty");
    if (empty) empty.remove();
    var before = list.firstChild;
    var entered = [];
    rows.forEach(function (r) {
      var id = String(r.member_id);
      var li = rowsById.get(id);
      var isNew = !li;
      if (isNew) {
        li = makeRow(id);
        li.classList.add("enter");
        rowsById.set(id, li);
        entered.push(li);
      }
      // Keep leaving rows out of the way: insert before the next non-leaving node.
      while (before && before.classList && before.classList.contains("leaving")) before = before.nextSibling;
      if (li !== before) list.insertBefore(li, before);
      else before = before.nextSibling;

      var rank = String(r.rank != null ? r.rank : "");
      if (li.dataset.rank !== rank) {
        li.dataset.rank = rank;
        part(li, "lb-rank").textContent = rank;
      }
      var name = r.name != null ? String(r.name) : "";
      var nameEl = part(li, "lb-name");
      if (nameEl.textContent !== name || isNew) {
        nameEl.textContent = name;
        nameEl.title = name;
      }
      var amount = Number(r.amount) || 0;
      if (isNew) {
        li.dataset.amount = String(amount);
        li._shown = amount;
        part(li, "lb-amount").textContent = O.formatNumber(amount);
      } else if (li.dataset.amount !== String(amount)) {
        li.dataset.amount = String(amount); // final value, readable immediately
        animateAmount(li, amount);
      }
    });
    if (!rows.length && !list.querySelector(".lb-row:not(.leaving)")) {
      var e = document.createElement("li");
      e.className = "lb-empty";
      e.textContent = "No entries yet";
      list.appendChild(e);
    }

    // Names: shrink to fit (the amount column may have grown, so refit every row).
    rowsById.forEach(function (li) { O.fitText(part(li, "lb-name"), NAME_MIN); });

    // LAST: clear any in-flight transforms so we measure the true new layout positions.
    var last = new Map();
    first.forEach(function (oldTop, id) {
      var li = rowsById.get(id);
      if (!li) return;
      li.style.transition = "none";
      li.style.transform = "";
    });
    first.forEach(function (oldTop, id) {
      var li = rowsById.get(id);
      if (li) last.set(id, li.getBoundingClientRect().top);
    });

    // INVERT + PLAY: only rows that actually moved get a transition.
    var moved = [];
    last.forEach(function (newTop, id) {
      var li = rowsById.get(id);
      var dy = (first.get(id) - newTop) / scale;
      if (Math.abs(dy) < 0.5) return;
      li.style.transition = "none";
      li.style.transform = "translateY(" + dy + "px)";
      moved.push(li);
    });
    if (moved.length) {
      void list.offsetHeight; // commit the inverted positions
      moved.forEach(function (li) {
        li.style.transition = "transform " + MOVE_MS + "ms cubic-bezier(.2,.8,.2,1)";
        li.style.transform = "";
      });
    }
    entered.forEach(function (li) {
      setTimeout(function () { li.classList.remove("enter"); }, 600);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();

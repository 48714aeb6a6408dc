// Ticker overlay: a bar at the bottom of #stage. Items that fit show newest first; when they
// overflow they scroll in a loop, and each new item comes in next at the right edge. Items
// are shown whole (never cut): when a long one is passing the edge, the bar scrolls faster
// until the new item is in view, so it is on screen within CATCH_UP_S seconds.
(function () {
  "use strict";
  var O = window.ConcordOverlay;
  var MAX_ITEMS = 20, SPEED = 110 /* stage px per second */, ENTER_MS = 700;
  var CATCH_UP_S = 3;

  var stage, bar, track;
  var x = 0, loopW = 0, scrolling = false, raf = 0, lastT = 0;
  var pending = null, boost = SPEED; // the newest item not yet in view, and the speed to it
  var held = false;

  function setup() {
    stage = O.stage() || document.getElementById("stage");
    if (!stage) return;
    bar = document.createElement("div");
    bar.className = "ticker panel";
    track = document.createElement("div");
    track.className = "ticker-track";
    bar.appendChild(track);
    stage.appendChild(bar);
    O.start({ onTicker: render });
  }

  function originals() { return Array.prototype.slice.call(track.querySelectorAll(".ticker-item")); }

  // ?kinds=a,b (validated by the server): only those event kinds; none given: all.
  function wanted() {
    var kinds = (stage.dataset.kinds || "").split(",").filter(Boolean);
    return kinds.length ? new Set(kinds) : null;
  }

  function render(msg) {
    if (!track || !msg || !Array.isArray(msg.items)) return;
    var items = [], seen = new Set(), only = wanted();
    // The snapshot holds the latest of each kind (a ticker of some kinds keeps its own).
    for (var i = 0; i < msg.items.length && items.length < MAX_ITEMS; i++) {
      var it = msg.items[i];
      var key = String(it.seq);
      if (only && !only.has(it.kind)) continue;
      if (seen.has(key)) continue;
      seen.add(key);
      items.push(it);
    }

    // Drop the loop copies; they are rebuilt below.
    Array.prototype.forEach.call(track.querySelectorAll(".ticker-clone"), function (c) { c.remove(); });

    var current = originals();
    var bySeq = new Map();
    current.forEach(function (el) { bySeq.set(el.dataset.seq, el); });
    var wasEmpty = current.length === 0;
    var wasScrolling = scrolling && !wasEmpty;

    // While scrolling, the loop is a rotation: what is on screen must not jump, and a new
    // item must come in next at the right edge (not at the loop's start, which may be a
    // whole loop away). Anchor: the first surviving item at least partly on screen. Entry:
    // the first surviving item starting at or beyond the right edge (in loop coordinates).
    // Items are whole, so the entry may be a long item's width away: tick() then speeds up.
    var anchor = null, anchorLeft = 0, entry = null;
    if (wasScrolling) {
      var base = current[0].offsetLeft;
      var left = -x, right = (left + bar.clientWidth) % loopW;
      var survivors = current.filter(function (el) { return seen.has(el.dataset.seq); });
      for (var j = 0; j < survivors.length; j++) {
        var el = survivors[j], l = el.offsetLeft - base, w = el.offsetWidth;
        if (!anchor && l + w > left) { anchor = el; anchorLeft = el.offsetLeft; }
        // An item only just coming in at the edge (under a third shown) yields its place.
        if (!entry && (l >= right || (l + w > right && right - l < w / 3))) entry = el;
      }
    }

    current.forEach(function (el) { if (!seen.has(el.dataset.seq)) el.remove(); });

    function make(it) {
      var el = document.createElement("span");
      el.className = "ticker-item";
      el.dataset.seq = String(it.seq);
      if (it.at) el.dataset.at = it.at;
      if (!wasEmpty) {
        el.classList.add("enter");
        setTimeout(function () { el.classList.remove("enter"); }, ENTER_MS);
      }
      return el;
    }
    function setText(el, it) {
      var text = it.text != null ? String(it.text) : "";
      if (el.textContent !== text) el.textContent = text;
    }

    if (wasScrolling) {
      // Old items keep their places; new ones (oldest of them first, so they read in order)
      // go in at the entry point.
      for (var k = items.length - 1; k >= 0; k--) {
        var old = bySeq.get(String(items[k].seq));
        if (old) { setText(old, items[k]); continue; }
        var fresh = make(items[k]);
        setText(fresh, items[k]);
        track.insertBefore(fresh, entry); // entry null: at the end of the loop
        pending = fresh; // the last inserted is the furthest in: the others come before it
      }
    } else {
      // Everything fits (or this is the first frame): newest first.
      var before = track.firstChild;
      items.forEach(function (it) {
        var el = bySeq.get(String(it.seq)) || make(it);
        setText(el, it);
        if (el !== before) track.insertBefore(el, before);
        else before = before.nextSibling;
      });
    }

    var els = originals();
    var firstEl = els[0], lastEl = els[els.length - 1];
    loopW = lastEl ? lastEl.offsetLeft + lastEl.offsetWidth - firstEl.offsetLeft : 0;
    scrolling = loopW > bar.clientWidth;

    if (scrolling) {
      els.forEach(function (el) {
        var c = el.cloneNode(true);
        c.className = "ticker-clone";
        c.removeAttribute("data-seq");
        c.setAttribute("aria-hidden", "true");
        track.appendChild(c);
      });
      if (wasScrolling && anchor && anchor.isConnected) x -= anchor.offsetLeft - anchorLeft;
      x = ((x % loopW) - loopW) % loopW; // normalise into (-loopW, 0]
      var away = pending ? distance(pending) : 0;
      boost = Math.max(SPEED, away / CATCH_UP_S);
      if (!raf) { lastT = 0; raf = requestAnimationFrame(tick); }
    } else {
      x = 0;
      pending = null;
      if (raf) { cancelAnimationFrame(raf); raf = 0; }
    }
    track.style.transform = "translateX(" + x + "px)";
  }

  // How far (stage px) `el` still has to scroll before its left edge is inside the bar: 0 once
  // any of it is in view. Its next appearance is the item or, past it, its loop copy.
  function distance(el) {
    if (!el.isConnected || !track.firstChild) return 0;
    var at = el.offsetLeft - track.firstChild.offsetLeft + x;
    if (at + el.offsetWidth <= 0) at += loopW;
    return Math.max(0, at - bar.clientWidth + 1);
  }

  function tick(now) {
    if (!scrolling) { raf = 0; return; }
    var dt = lastT ? Math.min(100, now - lastT) : 0;
    lastT = now;
    var speed = SPEED;
    if (pending) {
      if (distance(pending) > 0) speed = boost;
      else pending = null; // in view: back to the reading speed
    }
    if (!held) x -= speed * dt / 1000;
    if (x <= -loopW) x += loopW;
    track.style.transform = "translateX(" + x + "px)";
    raf = requestAnimationFrame(tick);
  }

  // For tests and for checking a scene: hold the bar still (or let it go), move the loop on by
  // `px` stage px at once.
  window.concordTicker = {
    hold: function (still) { held = !!still; },
    scrollBy: function (px) {
      if (!scrolling) return;
      x = (((x - px) % loopW) - loopW) % loopW;
      track.style.transform = "translateX(" + x + "px)";
    },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();

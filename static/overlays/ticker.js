// Ticker overlay: a bar at the bottom of #stage; items (newest first) scroll horizontally.
(function () {
  "use strict";
  var O = window.ConcordOverlay;
  var MAX_ITEMS = 20, SPEED = 110 /* stage px per second */, ENTER_MS = 700;

  var stage, bar, track;
  var x = 0, loopW = 0, scrolling = false, raf = 0, lastT = 0;

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

  function render(msg) {
    if (!track || !msg || !Array.isArray(msg.items)) return;
    var items = [], seen = new Set();
    for (var i = 0; i < msg.items.length && items.length < MAX_ITEMS; i++) {
      var it = msg.items[i];
      var key = String(it.seq);
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

    // Anchor: the first surviving old item, so already-visible text doesn't jump while scrolling.
    var anchor = null, anchorLeft = 0;
    for (var j = 0; j < items.length; j++) {
      var a = bySeq.get(String(items[j].seq));
      if (a) { anchor = a; anchorLeft = a.offsetLeft; break; }
    }

    current.forEach(function (el) { if (!seen.has(el.dataset.seq)) el.remove(); });

    var before = track.firstChild;
    items.forEach(function (it) {
      var key = String(it.seq);
      var el = bySeq.get(key);
      if (!el) {
        el = document.createElement("span");
        el.className = "ticker-item";
        el.dataset.seq = key;
        if (it.at) el.dataset.at = it.at;
        if (!wasEmpty) {
          el.classList.add("enter");
          setTimeout(function () { el.classList.remove("enter"); }, ENTER_MS);
        }
      }
      var text = it.text != null ? String(it.text) : "";
      if (el.textContent !== text) el.textContent = text;
      if (el !== before) track.insertBefore(el, before);
      else before = before.nextSibling;
    });

    var els = originals();
    var lastEl = els[els.length - 1];
    loopW = lastEl ? lastEl.offsetLeft + lastEl.offsetWidth : 0;
    var wasScrolling = scrolling;
    scrolling = loopW > bar.clientWidth;

    if (scrolling) {
      els.forEach(function (el) {
        var c = el.cloneNode(true);
        c.className = "ticker-clone";
        c.removeAttribute("data-seq");
        c.setAttribute("aria-hidden", "true");
        track.appendChild(c);
      });
      if (wasScrolling && anchor) x -= anchor.offsetLeft - anchorLeft;
      x = ((x % loopW) - loopW) % loopW; // normalise into (-loopW, 0]
      if (!raf) { lastT = 0; raf = requestAnimationFrame(tick); }
    } else {
      x = 0;
      if (raf) { cancelAnimationFrame(raf); raf = 0; }
    }
    track.style.transform = "translateX(" + x + "px)";
  }

  function tick(now) {
    if (!scrolling) { raf = 0; return; }
    var dt = lastT ? Math.min(100, now - lastT) : 0;
    lastT = now;
    x -= SPEED * dt / 1000;
    if (x <= -loopW) x += loopW;
    track.style.transform = "translateX(" + x + "px)";
    raf = requestAnimationFrame(tick);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();

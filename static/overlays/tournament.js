// Tournament overlay: the board (counts, players with their check-in, the waitlist) on the
// left and the bracket on the right, from "tournament" snapshots. Rows are keyed
// by registration and updated in place, so only what changed moves (a check-in lights its
// row up).
(function () {
  "use strict";
  var O = window.ConcordOverlay;
  var FLASH_MS = 900;

  var stage, title, counts, players, more, waitlist, bracket, limit;
  var rows = new Map(); // registration id -> <li>

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function setup() {
    stage = O.stage() || document.getElementById("stage");
    if (!stage) return;
    limit = parseInt(stage.dataset.limit, 10);
    if (!(limit > 0)) limit = 16;
    var board = el("section", "panel tb");
    title = el("div", "tb-title", "TOURNAMENT");
    counts = el("div", "tb-counts");
    players = el("ol", "tb-players");
    more = el("li", "tb-more");
    var waitTitle = el("div", "tb-subtitle", "WAITLIST");
    waitlist = el("ol", "tb-waitlist");
    board.append(title, counts, players, waitTitle, waitlist);
    bracket = el("section", "panel tb-bracket");
    stage.append(board, bracket);
    O.start({ onTournament: render });
  }

  function count(label, value, key) {
    var box = el("div", "tb-count");
    box.dataset.count = key;
    box.append(el("span", "tb-count-value", value), el("span", "tb-count-label", label));
    return box;
  }

  function render(msg) {
    var b = msg && msg.board;
    if (!b) return;
    title.textContent = (b.name || "Tournament").toUpperCase();
    O.fitText(title, 0.5);
    counts.replaceChildren(
      count("registered", b.seated + "/" + b.capacity, "seated"),
      count("checked in", b.checked_in + "/" + b.seated, "checked_in"),
      count("waitlist", String(b.waitlisted), "waitlisted")
    );

    var seen = new Set();
    var shown = (b.players || []).slice(0, limit);
    shown.forEach(function (p, i) {
      var key = String(p.id);
      var li = rows.get(key);
      if (!li) {
        li = el("li", "tb-player");
        li.append(el("span", "tb-name"), el("span", "tb-mark"));
        rows.set(key, li);
      }
      var wasIn = li.classList.contains("in");
      li.classList.toggle("in", !!p.checked_in);
      if (p.checked_in && !wasIn && li.isConnected) {
        li.classList.add("flash");
        setTimeout(function () { li.classList.remove("flash"); }, FLASH_MS);
      }
      li.dataset.name = p.name;
      li.firstChild.textContent = p.name;
      li.lastChild.textContent = p.checked_in ? "✓" : "";
      if (players.children[i] !== li) players.insertBefore(li, players.children[i] || null);
      O.fitText(li.firstChild, 0.6);
      seen.add(key);
    });
    rows.forEach(function (li, key) {
      if (!seen.has(key)) { li.remove(); rows.delete(key); }
    });
    var hidden = (b.players || []).length - shown.length;
    if (hidden > 0) {
      more.textContent = "+" + hidden + " more";
      players.appendChild(more); // one line, kept last
    } else {
      more.remove();
    }

    waitlist.replaceChildren.apply(waitlist, (b.waitlist || []).slice(0, 5).map(function (w) {
      var li = el("li", "tb-wait", w.name);
      li.value = w.position;
      return li;
    }));

    bracket.replaceChildren();
    bracket.hidden = !(b.rounds && b.rounds.length);
    (b.rounds || []).forEach(function (r) {
      var col = el("div", "tb-round");
      col.appendChild(el("div", "tb-subtitle", "ROUND " + r.round));
      // Matches in pairs (the two feeding one match of the next round), each in a slot of
      // equal height, so a line joins each pair to the match it feeds.
      var games = el("div", "tb-matches");
      var pair = null;
      r.matches.forEach(function (m, i) {
        if (i % 2 === 0) {
          pair = el("div", "tb-pair" + (i === r.matches.length - 1 ? " single" : ""));
          games.appendChild(pair);
        }
        var slot = el("div", "tb-slot");
        pair.appendChild(slot);
        var box = el("div", "tb-match " + (m.status || ""));
        box.dataset.match = "R" + r.round + "M" + m.slot;
        ["home", "away"].forEach(function (side) {
          // An empty side reads "TBD", "Winner of R1 M3" or (round 1) "bye": the label.
          var s = el("div", "tb-side" + (m.winner === side ? " won" : "") + (m[side] ? "" : " placeholder"));
          s.appendChild(el("span", "tb-name", m[side + "_label"] || m[side] || "TBD"));
          if (m.winner === side && m.score) s.appendChild(el("span", "tb-score", m.score));
          box.appendChild(s);
        });
        slot.appendChild(box);
      });
      col.appendChild(games);
      bracket.appendChild(col);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();

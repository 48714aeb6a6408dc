// The member page, live. The hub pushes only the news that an event named this member or
// changed one of their tournaments (#member-changed: the same for every socket, so nothing personal); the page then fetches
// its blocks with its own session (#member-live, views.member_live), which decides what
// this user's role may see, and htmx swaps each block ([data-live-block]) out of band.
// A block with a field being typed in, or a form changed and not yet sent, is left as it
// is (refreshed once the focus leaves it); a refusal shown in a block stays shown.
(function () {
  "use strict";

  var stale = false;

  function changed(field) {
    if (field.type === "hidden" || field.type === "submit" || field.type === "button") return false;
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.tagName === "SELECT") {
      var first = Array.prototype.findIndex.call(field.options, function (o) { return o.defaultSelected; });
      return field.selectedIndex !== Math.max(first, 0);
    }
    return field.value !== field.defaultValue;
  }

  function editing(block) {
    var active = document.activeElement;
    if (active && block.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return true;
    return Array.prototype.some.call(block.querySelectorAll("input, select, textarea"), changed);
  }

  function refresh() {
    var live = document.getElementById("member-live");
    if (live && window.htmx) window.htmx.trigger(live, "member-changed");
  }

  document.addEventListener("htmx:wsAfterMessage", refresh);
  // A control's answer is the whole body, fresh: a refresh on its way, perhaps read
  // before the control's write, is called off.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var live = document.getElementById("member-live");
    if (live && evt.detail.target && evt.detail.target.id === "member-page" && evt.detail.shouldSwap) {
      window.htmx.trigger(live, "htmx:abort");
    }
  });
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var block = evt.detail.target;
    if (!block || !block.hasAttribute || !block.hasAttribute("data-live-block")) return;
    if (editing(block)) {
      evt.detail.shouldSwap = false;
      stale = true;
      return;
    }
    // A refusal says what the last press did not do: the fresh block keeps it.
    block.querySelectorAll(".refusal[id]").forEach(function (slot) {
      if (!slot.textContent.trim()) return;
      var fresh = evt.detail.fragment.querySelector("#" + CSS.escape(slot.id));
      if (fresh) fresh.innerHTML = slot.innerHTML;
    });
  });
  document.addEventListener("focusout", function () {
    if (stale) {
      stale = false;
      setTimeout(refresh, 0);
    }
  });
})();

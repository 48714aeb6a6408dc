// Members list: "select all" ticks every member on this page.
document.addEventListener("change", function (event) {
  var all = event.target.closest("[data-select-all]");
  if (!all) return;
  document.querySelectorAll('#bulk-award input[name="member"]').forEach(function (box) {
    box.checked = all.checked;
  });
});

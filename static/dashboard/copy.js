// Copy buttons: <button data-copy="text">; says "Copied" for a moment (or selects the text
// beside it where the clipboard is refused, as on plain-HTTP pages).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var text = button.dataset.copy, label = button.textContent;
  function said(word) {
    button.textContent = word;
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { said("Copied"); }, function () { said("Copy failed"); });
  } else {
    var field = button.parentElement.querySelector("input[readonly]");
    if (field) { field.focus(); field.select(); said("Press Ctrl+C"); }
  }
});

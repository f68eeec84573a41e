// The item page's larger view: the photo opens in a dialog (Esc or Close shuts it); without this
// script the photo's link opens the original. The arrow keys step through the results seen.
(function () {
  "use strict";
  var dialog = document.querySelector("[data-zoom-dialog]");
  var link = document.querySelector("[data-zoom]");
  var button = document.querySelector("[data-zoom-open]");
  if (dialog && link && typeof dialog.showModal === "function") {
    var open = function (event) { event.preventDefault(); dialog.showModal(); };
    link.addEventListener("click", open);
    button.hidden = false;
    button.addEventListener("click", open);
    dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || (dialog && dialog.open)) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) return;
    var rel = { ArrowLeft: "prev", ArrowRight: "next" }[event.key];
    var target = rel && document.querySelector('.item-steps a[rel="' + rel + '"]');
    if (target) target.click();
  });
})();

// The admin's upload page: with several files chosen, a title field per file (sent as `titles`,
// in the files' order) instead of one title for all. Without this script each file is titled
// from its name.
(function () {
  "use strict";
  var input = document.querySelector("#upload-form input[type=file]");
  var box = document.getElementById("file-titles");
  var rows = box && box.querySelector("[data-file-titles]");
  var single = document.querySelector("#upload-form input[name=title]");
  if (!input || !rows) return;
  input.addEventListener("change", function () {
    rows.textContent = "";
    var files = Array.prototype.slice.call(input.files);
    var several = files.length > 1;
    box.hidden = !several;
    if (single) single.closest(".form-row").hidden = several;
    if (!several) return;
    files.forEach(function (file, number) {
      var row = document.createElement("div");
      row.className = "form-row";
      var label = document.createElement("label");
      label.htmlFor = "file-title-" + number;
      label.textContent = "Title of " + file.name;
      var field = document.createElement("input");
      field.type = "text";
      field.name = "titles";
      field.id = "file-title-" + number;
      field.maxLength = 200;
      field.className = "vTextField";
      row.append(label, " ", field);
      rows.append(row);
    });
  });
})();

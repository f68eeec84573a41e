// Search by photo: choose, drop or paste a photo, see it, and drag on it to search by a part of it.
// The box goes to the server as fractions of the photo ("left,top,right,bottom"); the server crops
// the decoded photo, so the page never resamples it. Without this script the form still works.
(function () {
  "use strict";
  var form = document.querySelector("[data-photo-search]");
  if (!form) return;
  var input = form.querySelector("input[type=file]");
  var zone = form.querySelector("[data-drop-zone]");
  var preview = form.querySelector("[data-preview]");
  var frame = form.querySelector("[data-frame]");
  var image = form.querySelector("[data-preview-image]");
  var box = form.querySelector("[data-box]");
  var boxInput = form.querySelector("[data-box-input]");
  var status = form.querySelector("[data-box-status]");
  var clear = form.querySelector("[data-clear-box]");
  var objectUrl = null;
  var MIN_FRACTION = 0.03; // a click or a tiny drag is no box

  function setBox(rect) {
    if (!rect) {
      boxInput.value = "";
      box.hidden = true;
      clear.hidden = true;
      status.textContent = "Searching by the whole photo.";
      return;
    }
    boxInput.value = [rect.left, rect.top, rect.right, rect.bottom].map(function (v) { return v.toFixed(4); }).join(",");
    box.style.left = rect.left * 100 + "%";
    box.style.top = rect.top * 100 + "%";
    box.style.width = (rect.right - rect.left) * 100 + "%";
    box.style.height = (rect.bottom - rect.top) * 100 + "%";
    box.hidden = false;
    clear.hidden = false;
    status.textContent = "Searching by the part in the box.";
  }

  function show(file) {
    if (!file || !/^image\//.test(file.type || "image/")) return;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(file);
    image.src = objectUrl;
    preview.hidden = false;
    setBox(null);
  }

  function useFiles(files) {
    if (!files || !files.length) return;
    var transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    show(files[0]);
  }

  input.addEventListener("change", function () { show(input.files[0]); });

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer) useFiles(event.dataTransfer.files);
  });

  document.addEventListener("paste", function (event) {
    var files = event.clipboardData ? Array.prototype.filter.call(event.clipboardData.files, function (file) {
      return /^image\//.test(file.type);
    }) : [];
    if (!files.length) return; // text pasted into a field stays text
    event.preventDefault();
    useFiles(files);
  });

  // Drawing the box, in fractions of the shown photo.
  var start = null;
  function point(event) {
    var area = image.getBoundingClientRect();
    return {
      x: Math.min(Math.max((event.clientX - area.left) / area.width, 0), 1),
      y: Math.min(Math.max((event.clientY - area.top) / area.height, 0), 1),
    };
  }
  function rectFrom(a, b) {
    return { left: Math.min(a.x, b.x), top: Math.min(a.y, b.y), right: Math.max(a.x, b.x), bottom: Math.max(a.y, b.y) };
  }
  frame.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) return;
    event.preventDefault();
    start = point(event);
    frame.setPointerCapture(event.pointerId);
  });
  frame.addEventListener("pointermove", function (event) {
    if (start) setBox(rectFrom(start, point(event)));
  });
  frame.addEventListener("pointerup", function (event) {
    if (!start) return;
    var rect = rectFrom(start, point(event));
    start = null;
    var big = rect.right - rect.left >= MIN_FRACTION && rect.bottom - rect.top >= MIN_FRACTION;
    setBox(big ? rect : null);
  });
  clear.addEventListener("click", function () { setBox(null); });

  // From the keyboard: Enter puts a box in the middle, the arrows move it, Shift+arrows resize it.
  var STEP = 0.05;
  frame.tabIndex = 0;
  frame.addEventListener("keydown", function (event) {
    var moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[event.key];
    var rect = boxInput.value ? boxInput.value.split(",").map(Number) : null;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      setBox({ left: 0.25, top: 0.25, right: 0.75, bottom: 0.75 });
    } else if (event.key === "Escape" || event.key === "Delete") {
      setBox(null);
    } else if (moves && rect) {
      event.preventDefault();
      var dx = moves[0] * STEP, dy = moves[1] * STEP;
      if (event.shiftKey) {
        rect[2] = Math.min(Math.max(rect[2] + dx, rect[0] + STEP), 1);
        rect[3] = Math.min(Math.max(rect[3] + dy, rect[1] + STEP), 1);
      } else {
        dx = Math.min(Math.max(dx, -rect[0]), 1 - rect[2]);
        dy = Math.min(Math.max(dy, -rect[1]), 1 - rect[3]);
        rect = [rect[0] + dx, rect[1] + dy, rect[2] + dx, rect[3] + dy];
      }
      setBox({ left: rect[0], top: rect[1], right: rect[2], bottom: rect[3] });
    }
  });
})();

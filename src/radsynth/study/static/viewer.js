// Reader-study page: zoom, pan and window/level per image, and keyboard shortcuts.
// Vanilla JS, no network requests beyond this page's own images; the form still works without it.
(function () {
  "use strict";
  var form = document.getElementById("item-form");
  if (!form) return;
  var cards = Array.prototype.slice.call(form.querySelectorAll(".card"));
  var active = 0;

  function setupViewer(card) {
    var box = card.querySelector(".viewer"), img = box.querySelector("img");
    var level = card.querySelector(".level"), win = card.querySelector(".window");
    var s = { zoom: 1, x: 0, y: 0 };
    function apply() {
      img.style.transform = "translate(" + s.x + "px," + s.y + "px) scale(" + s.zoom + ")";
      // Window ~ contrast, level ~ brightness: a display-only change, never stored.
      img.style.filter = "brightness(" + level.value + ") contrast(" + win.value + ")";
    }
    function zoomAt(factor, cx, cy) {
      var z = Math.min(8, Math.max(1, s.zoom * factor));
      s.x = cx - (cx - s.x) * (z / s.zoom); s.y = cy - (cy - s.y) * (z / s.zoom); s.zoom = z;
      if (z === 1) { s.x = 0; s.y = 0; }
      apply();
    }
    function center(f) { zoomAt(f, box.clientWidth / 2, box.clientHeight / 2); }
    function reset() { s = { zoom: 1, x: 0, y: 0 }; level.value = 1; win.value = 1; apply(); }
    box.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = box.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    var drag = null;
    box.addEventListener("mousedown", function (e) {
      drag = { x: e.clientX, y: e.clientY, sx: s.x, sy: s.y, lv: +level.value, wv: +win.value,
               wl: e.shiftKey || e.button === 2 };
      e.preventDefault();
    });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (drag.wl) {  // shift- or right-drag: horizontal = window, vertical = level
        win.value = Math.max(0.3, Math.min(3, drag.wv + dx / 150));
        level.value = Math.max(0.3, Math.min(2, drag.lv - dy / 150));
      } else { s.x = drag.sx + dx; s.y = drag.sy + dy; }
      apply();
    });
    window.addEventListener("mouseup", function () { drag = null; });
    box.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    box.addEventListener("dblclick", reset);
    card.querySelector(".zoom-in").addEventListener("click", function () { center(1.25); });
    card.querySelector(".zoom-out").addEventListener("click", function () { center(1 / 1.25); });
    card.querySelector(".reset").addEventListener("click", reset);
    level.addEventListener("input", apply); win.addEventListener("input", apply);
    card.addEventListener("mousedown", function () { setActive(cards.indexOf(card)); });
  }

  function setActive(i) {
    active = (i + cards.length) % cards.length;
    cards.forEach(function (c, j) { c.classList.toggle("active", j === active); });
  }
  function markPicked() {
    cards.forEach(function (c) {
      var p = c.querySelector("input[name=pick]");
      c.classList.toggle("picked", !!(p && p.checked));
    });
  }
  function check(selector) { var el = form.querySelector(selector); if (el) { el.checked = true; } return !!el; }

  cards.forEach(setupViewer);
  setActive(0);
  markPicked();
  form.addEventListener("change", markPicked);

  var rateKeys = { a: 1, s: 2, d: 3, f: 4 };
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "textarea" || (tag === "input" && e.target.type === "text")) return;
    var k = e.key.toLowerCase(), card = cards[active];
    if (/^[1-9]$/.test(k)) {
      if (check("input[name=pick][data-key='" + k + "']") || check("input[name=answer][data-key='" + k + "']")) {
        markPicked(); e.preventDefault();
      }
    } else if (k in rateKeys) {
      if (check("#card-" + card.dataset.pos + " .rating input[value='" + rateKeys[k] + "']")) {
        setActive(active + 1); e.preventDefault();
      }
    } else if (k === "y" || k === "n") {
      check("#card-" + card.dataset.pos + " .finding input[value='" + (k === "y" ? "yes" : "no") + "']");
    } else if (k === "arrowright") { setActive(active + 1); e.preventDefault(); }
    else if (k === "arrowleft") { setActive(active - 1); e.preventDefault(); }
    else if (k === "enter") {
      e.preventDefault();
      if (form.reportValidity()) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
    }
  });
})();

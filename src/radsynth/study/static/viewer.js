// Reader-study page: zoom, pan and window/level per image, an enlarged view, keyboard shortcuts.
// Vanilla JS, no network requests beyond this page's own images; the form still works without it.
// The "current" image (framed) is the one that rating and finding keys answer. It moves on only
// once every question of the image is answered, and never while the enlarged view is open, so
// "D" then "Y" both land on the same image.
(function () {
  "use strict";
  var form = document.getElementById("item-form");
  if (!form) return;
  var cards = Array.prototype.slice.call(form.querySelectorAll(".card"));
  var overlay = document.getElementById("overlay"), big = document.getElementById("overlay-img");
  var active = 0;

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  // One pan/zoom/window-level controller for an <img> inside a box; level/window are sliders.
  function makeView(box, img, level, win) {
    var s = { zoom: 1, x: 0, y: 0 };
    function apply() {
      img.style.transform = "translate(" + s.x + "px," + s.y + "px) scale(" + s.zoom + ")";
      // Window ~ contrast, level ~ brightness: a display-only change, never stored.
      img.style.filter = "brightness(" + level.value + ") contrast(" + win.value + ")";
    }
    function zoomAt(factor, cx, cy) {
      var z = clamp(s.zoom * factor, 1, 8);
      s.x = cx - (cx - s.x) * (z / s.zoom); s.y = cy - (cy - s.y) * (z / s.zoom); s.zoom = z;
      if (z === 1) { s.x = 0; s.y = 0; }
      apply();
    }
    function center(f) { zoomAt(f, box.clientWidth / 2, box.clientHeight / 2); }
    function reset() { s = { zoom: 1, x: 0, y: 0 }; level.value = 1; win.value = 1; apply(); }
    var drag = null;
    box.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = box.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    box.addEventListener("mousedown", function (e) {
      drag = { x: e.clientX, y: e.clientY, sx: s.x, sy: s.y, lv: +level.value, wv: +win.value,
               wl: e.shiftKey || e.button === 2, moved: false };
      e.preventDefault();
    });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.wl) {  // shift- or right-drag: horizontal = window, vertical = level
        win.value = clamp(drag.wv + dx / 150, 0.3, 3);
        level.value = clamp(drag.lv - dy / 150, 0.3, 2);
      } else { s.x = drag.sx + dx; s.y = drag.sy + dy; }
      apply();
    });
    window.addEventListener("mouseup", function () { view.clicked = drag && !drag.moved; drag = null; });
    box.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    box.addEventListener("dblclick", reset);
    var view = { apply: apply, center: center, reset: reset, clicked: false };
    return view;
  }

  var views = cards.map(function (card) {
    var box = card.querySelector(".viewer"), img = box.querySelector("img");
    var level = card.querySelector(".level"), win = card.querySelector(".window");
    var view = makeView(box, img, level, win);
    card.querySelector(".zoom-in").addEventListener("click", function () { view.center(1.25); });
    card.querySelector(".zoom-out").addEventListener("click", function () { view.center(1 / 1.25); });
    card.querySelector(".reset").addEventListener("click", view.reset);
    card.querySelector(".enlarge").addEventListener("click", function () {
      setActive(cards.indexOf(card)); openBig();
    });
    box.addEventListener("click", function () {
      if (view.clicked) { setActive(cards.indexOf(card)); openBig(); }
    });
    level.addEventListener("input", view.apply); win.addEventListener("input", view.apply);
    card.addEventListener("mousedown", function () { setActive(cards.indexOf(card)); });
    return view;
  });

  // The enlarged view shares the current card's window/level sliders.
  var bigView = null;
  function openBig() {
    var card = cards[active];
    big.src = card.querySelector(".viewer img").getAttribute("src");
    document.getElementById("overlay-label").textContent = card.querySelector(".label").textContent;
    overlay.hidden = false;
    bigView = makeView(overlay.querySelector(".overlay-view"), big,
                       card.querySelector(".level"), card.querySelector(".window"));
    bigView.apply();
  }
  function closeBig() {
    if (overlay.hidden) return;
    overlay.hidden = true; views[active].apply();
    // Replace the box so that the next opening starts without this one's listeners.
    var box = overlay.querySelector(".overlay-view"), fresh = box.cloneNode(true);
    box.parentNode.replaceChild(fresh, box); big = fresh.querySelector("img"); bigView = null;
  }
  document.getElementById("overlay-close").addEventListener("click", closeBig);

  function setActive(i) {
    active = (i + cards.length) % cards.length;
    cards.forEach(function (c, j) { c.classList.toggle("active", j === active); });
    if (!overlay.hidden) { closeBig(); openBig(); }
  }
  function markPicked() {
    cards.forEach(function (c) {
      var p = c.querySelector("input[name=pick]");
      c.classList.toggle("picked", !!(p && p.checked));
    });
  }
  function check(selector) { var el = form.querySelector(selector); if (el) { el.checked = true; } return !!el; }
  function complete(card) {
    var groups = card.querySelectorAll("fieldset.rating, fieldset.finding");
    return Array.prototype.every.call(groups, function (g) { return !!g.querySelector("input:checked"); });
  }
  function answered(card) {  // the current image moves on once it is fully answered
    if (overlay.hidden && complete(card)) setActive(active + 1);
  }

  setActive(0);
  markPicked();
  form.addEventListener("change", markPicked);

  var rateKeys = { a: 1, s: 2, d: 3, f: 4 };
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "textarea" || (tag === "input" && e.target.type === "text")) return;
    var k = e.key.toLowerCase(), card = cards[active], sel = "#card-" + card.dataset.pos;
    if (/^[1-9]$/.test(k)) {
      if (check("input[name=pick][data-key='" + k + "']") || check("input[name=answer][data-key='" + k + "']")) {
        markPicked(); e.preventDefault();
      }
    } else if (k in rateKeys) {
      if (check(sel + " .rating input[value='" + rateKeys[k] + "']")) { e.preventDefault(); answered(card); }
    } else if (k === "y" || k === "n") {
      if (check(sel + " .finding input[value='" + (k === "y" ? "yes" : "no") + "']")) { e.preventDefault(); answered(card); }
    } else if (k === "z") { e.preventDefault(); if (overlay.hidden) { openBig(); } else { closeBig(); } }
    else if (k === "escape") { closeBig(); }
    else if ((k === "+" || k === "=") && bigView) { bigView.center(1.25); }
    else if (k === "-" && bigView) { bigView.center(1 / 1.25); }
    else if (k === "arrowright") { setActive(active + 1); e.preventDefault(); }
    else if (k === "arrowleft") { setActive(active - 1); e.preventDefault(); }
    else if (k === "enter") {
      e.preventDefault();
      closeBig();
      if (form.reportValidity()) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
    }
  });
})();

// Keyboard review: Up/Down (or J/K) moves between items, a digit presses the active item's
// button with that data-key. The page comes back at the item just decided (#item-N).
(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll(".item"));
  if (!items.length) { return; }
  var active = 0;
  function activate(i) {
    active = Math.max(0, Math.min(items.length - 1, i));
    items.forEach(function (el, k) { el.classList.toggle("active", k === active); });
    items[active].focus({ preventScroll: true });
    items[active].scrollIntoView({ block: "nearest" });
  }
  items.forEach(function (el, k) {
    el.addEventListener("click", function () { activate(k); });
  });
  var start = items.findIndex(function (el) { return "#" + el.id === window.location.hash; });
  activate(start >= 0 ? start : 0);
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "ArrowDown" || ev.key === "j") { activate(active + 1); ev.preventDefault(); return; }
    if (ev.key === "ArrowUp" || ev.key === "k") { activate(active - 1); ev.preventDefault(); return; }
    if (/^[0-9]$/.test(ev.key)) {
      var button = items[active].querySelector('button[data-key="' + ev.key + '"]');
      if (button) { ev.preventDefault(); button.click(); }
    }
  });
})();

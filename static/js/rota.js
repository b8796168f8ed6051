// Rota pages: print button and "select everyone" on the pattern form. No inline handlers (CSP).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-rota-print]").forEach(function (btn) {
    btn.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("[data-rota-select-all]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var box = document.getElementById(btn.getAttribute("data-rota-select-all"));
      if (!box) return;
      var inputs = box.querySelectorAll("input[type=checkbox]");
      var all = Array.prototype.every.call(inputs, function (i) { return i.checked; });
      inputs.forEach(function (i) { i.checked = !all; });
    });
  });
});

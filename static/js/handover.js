// Handover pages: print button, merging after a conflicting save, and confirmation before discharging a patient
// (no inline handlers: CSP).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".sb-ho-print-button").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  // After a conflicting save: "Add their text to yours" appends the other person's saved text to the section.
  document.querySelectorAll(".sb-ho-merge").forEach(function (button) {
    var target = document.getElementById(button.dataset.target);
    if (!target) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var mine = target.value.replace(/\s+$/, "");
      target.value = mine ? mine + "\n" + button.dataset.text : button.dataset.text;
      button.hidden = true;
      target.focus();
    });
  });
  document.querySelectorAll("form.sb-ho-confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
});

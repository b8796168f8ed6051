// Progressive enhancement only: every page works without JavaScript.
document.documentElement.classList.add("js-enabled");

// After an action the page says what was done (a flash message) or what is wrong (the error summary): move the
// keyboard and screen-reader focus there, as the NHS.UK design system asks, unless a field already has it.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var target = document.querySelector(".nhsuk-error-summary") || document.querySelector("[data-testid=flash]");
  var active = document.activeElement;
  if (target && (!active || active === document.body)) {
    target.focus();
  }
});

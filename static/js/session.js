// Sign-out warning for shared ward computers (progressive enhancement: without JavaScript the server still ends idle
// sessions, and a form sent afterwards keeps its text through the new sign-in).
// Before the idle limit ends the session, the page asks the server how long is left (asking does not count as
// use, so another tab's activity is seen), warns, and offers "Stay signed in". When the session has ended the page's
// content is removed from the document (nothing patient-identifiable is left on an unattended screen, and nothing
// puts it back without a sign-in). What was typed is kept in this script's memory only: "Continue" sends that form to
// the server, which answers with the sign-in page carrying the text ("Save my changes" after signing in); with nothing
// typed, "Continue" opens the sign-in page, which comes back to this page. A form with a password in it is never kept.
(function () {
  "use strict";
  var box = document.getElementById("session-timeout");
  if (!box || !window.fetch) { return; }
  var warning = box.querySelector("[data-testid=session-warning]");
  var ended = box.querySelector("[data-testid=session-ended]");
  var countdown = box.querySelector("[data-countdown]");
  var stay = box.querySelector("[data-testid=stay-signed-in]");
  var extendText = box.querySelector("[data-when=extendable]");
  var finalText = box.querySelector("[data-when=final]");
  var main = document.getElementById("maincontent");
  var warnMs = parseInt(box.getAttribute("data-warn-seconds"), 10) * 1000;
  var deadline = Date.now() + parseInt(box.getAttribute("data-seconds-left"), 10) * 1000;
  var timer = null, ticker = null, kept = null;

  function ask(method, url) {
    var headers = { "Accept": "application/json" };
    if (method === "POST") { headers["X-CSRFToken"] = box.getAttribute("data-csrf"); }
    return fetch(url, { method: method, credentials: "same-origin", headers: headers }).then(function (r) {
      if (r.status === 401) { return null; }
      if (!r.ok) { throw new Error("status " + r.status); }
      return r.json();
    });
  }

  function later(fn, ms) { window.clearTimeout(timer); timer = window.setTimeout(fn, Math.max(0, ms)); }

  function schedule() { later(check, deadline - warnMs - Date.now()); }

  function tick() {
    var s = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    countdown.textContent = Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }

  function showWarning(extendable) {
    stay.hidden = !extendable;
    extendText.hidden = !extendable;
    finalText.hidden = extendable;
    warning.hidden = false;
    tick();
    window.clearInterval(ticker);
    ticker = window.setInterval(tick, 1000);
  }

  function hideWarning() { warning.hidden = true; window.clearInterval(ticker); }

  var NOT_TYPED = /^(submit|button|reset|image|file|hidden)$/;

  function changed(el) {
    if (!el.name || el.disabled || NOT_TYPED.test(el.type)) { return false; }
    if (el.type === "checkbox" || el.type === "radio") { return el.checked !== el.defaultChecked; }
    if (el.options) {
      return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return el.value !== el.defaultValue;
  }

  function fieldsOf(form) {
    // What the browser would send for this form's default button (files cannot be carried).
    var fields = [], els = Array.prototype.slice.call(form.elements), button = null;
    els.forEach(function (el) {
      if (!button && (el.type === "submit" || el.type === "image")) { button = el; }
      if (!el.name || el.disabled || /^(submit|button|reset|image|file)$/.test(el.type)) { return; }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) { return; }
      if (el.options && el.multiple) {
        Array.prototype.forEach.call(el.options, function (o) { if (o.selected) { fields.push([el.name, o.value]); } });
        return;
      }
      fields.push([el.name, el.value]);
    });
    if (button && button.name) { fields.push([button.name, button.value]); }
    return fields;
  }

  function typedForm() {
    var forms = main ? main.querySelectorAll("form") : [];
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i], els = Array.prototype.slice.call(form.elements);
      if ((form.getAttribute("method") || "get").toLowerCase() !== "post") { continue; }
      if (els.some(function (el) { return el.type === "password"; })) { continue; }  // never kept
      if (!els.some(changed)) { continue; }
      return { action: form.getAttribute("action") || window.location.pathname + window.location.search,
               fields: fieldsOf(form) };
    }
    return null;
  }

  function end() {
    window.clearTimeout(timer);
    hideWarning();
    if (kept === null) {
      kept = typedForm() || false;
      if (main) { while (main.firstChild) { main.removeChild(main.firstChild); } }
      document.title = box.getAttribute("data-ended-title");
    }
    ended.hidden = false;
    ended.querySelector("button").focus();
  }

  function resume() {
    if (!kept) {
      window.location.assign(box.getAttribute("data-login-url") + "?next=" +
                             encodeURIComponent(window.location.pathname + window.location.search));
      return;
    }
    var form = document.createElement("form");
    form.method = "post";
    form.action = kept.action;
    form.hidden = true;
    kept.fields.forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    HTMLFormElement.prototype.submit.call(form);
  }

  function update(state) {
    if (state === null || state.seconds_left <= 0) { end(); return; }
    deadline = Date.now() + state.seconds_left * 1000;
    if (state.seconds_left * 1000 > warnMs) { hideWarning(); schedule(); return; }
    showWarning(state.extendable);
    later(check, deadline - Date.now());
  }

  function check() {
    ask("GET", box.getAttribute("data-status-url")).then(update, function () {
      // Offline or the server is busy: warn on our own reckoning rather than say nothing.
      if (Date.now() >= deadline) { end(); } else { showWarning(true); later(check, Math.min(15000, deadline - Date.now())); }
    });
  }

  stay.addEventListener("click", function () {
    ask("POST", box.getAttribute("data-keepalive-url")).then(update, function () { later(check, 5000); });
  });
  ended.querySelector("button").addEventListener("click", resume);
  schedule();
}());

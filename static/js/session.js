// Sign-out warning for shared ward computers (progressive enhancement: without JavaScript the server still ends idle
// sessions, and a form sent afterwards keeps its text through the new sign-in).
// Before the idle limit ends the session, the page asks the server how long is left (asking does not count as
// use, so another tab's activity is seen), warns, and offers "Stay signed in". When the session has ended it covers
// the page (patient details are not left on an unattended screen) without touching what was typed: "Continue"
// shows the page again, and saving then goes through the sign-in page with the text kept.
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
  var timer = null, ticker = null;

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

  function end() {
    window.clearTimeout(timer);
    hideWarning();
    ended.hidden = false;
    if (main) { main.hidden = true; }
    ended.querySelector("button").focus();
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
  ended.querySelector("button").addEventListener("click", function () {
    ended.hidden = true;
    if (main) { main.hidden = false; }
  });
  schedule();
}());

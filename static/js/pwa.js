// The installable app: registers the root-scope service worker, offers "Install on this phone" where the browser
// supports it, turns push on/off for this device (profile), and clears the offline copies at sign-out.
(function () {
  "use strict";

  function csrf() {
    var input = document.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  function b64ToBytes(s) {
    var pad = "=".repeat((4 - (s.length % 4)) % 4);
    var raw = window.atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function withTimeout(promise, ms, message) {
    return new Promise(function (resolve, reject) {
      var timer = window.setTimeout(function () { reject(new Error(message)); }, ms);
      promise.then(function (v) { window.clearTimeout(timer); resolve(v); },
                   function (e) { window.clearTimeout(timer); reject(e); });
    });
  }

  function registration() {
    if (!("serviceWorker" in navigator)) { return Promise.reject(new Error("no service worker")); }
    return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    });
  }

  function installHint() {
    var hint = document.querySelector("[data-testid=install-hint]");
    if (!hint) { return; }
    var deferred = null;
    window.addEventListener("beforeinstallprompt", function (e) {
      e.preventDefault();
      deferred = e;
      hint.hidden = false;
    });
    var button = hint.querySelector("button");
    if (button) {
      button.addEventListener("click", function () {
        if (deferred) { deferred.prompt(); deferred = null; hint.hidden = true; }
      });
    }
  }

  function pushPanel(panel) {
    var status = panel.querySelector("[data-testid=push-status]");
    var enable = panel.querySelector("[data-testid=push-enable]");
    function say(text) { if (status) { status.textContent = text; } }
    if (!("PushManager" in window) || !("serviceWorker" in navigator)) {
      say("This browser cannot receive notifications. On an iPhone or iPad, add Shiftbridge to your home " +
          "screen first (Share, then Add to Home Screen) and open it from there.");
      return;
    }
    registration().then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      if (sub) {
        var row = panel.querySelector('[data-endpoint="' + sub.endpoint + '"]');
        if (row) { row.setAttribute("data-this-device", "1"); var t = row.querySelector("[data-testid=this-device]"); if (t) { t.hidden = false; } }
      }
    }).catch(function () {});
    if (!enable) { return; }
    enable.hidden = false;
    enable.addEventListener("click", function () {
      var key = panel.getAttribute("data-vapid-key");
      var name = (panel.querySelector("[name=device_name]") || {}).value || "";
      // The browser's own push service (Google's for Chrome, Apple's, Mozilla's) answers subscribe; when it cannot
      // be reached the browser may never answer: say so after a while instead of leaving the button dead.
      var waitMs = (parseFloat(panel.getAttribute("data-subscribe-timeout") || "20") || 20) * 1000;
      enable.disabled = true;
      say("Turning notifications on…");
      Notification.requestPermission().then(function (perm) {
        if (perm !== "granted") { throw new Error("Notifications were not allowed in this browser's settings."); }
        return registration();
      }).then(function (reg) {
        return reg.pushManager.getSubscription().then(function (old) {
          return old || withTimeout(
            reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64ToBytes(key) }), waitMs,
            "This browser could not reach its push service, so notifications cannot be turned on here now. " +
            "Try again later; Shiftbridge and texts still reach you meanwhile.");
        });
      }).then(function (sub) {
        return fetch(panel.getAttribute("data-subscribe-url"), {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
          body: JSON.stringify({ subscription: sub.toJSON(), name: name })
        });
      }).then(function (r) {
        if (!r.ok) { throw new Error("The server refused this device (" + r.status + ")."); }
        window.location.reload();
      }).catch(function (err) {
        enable.disabled = false;
        say(err.message || "Could not turn notifications on.");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if ("serviceWorker" in navigator && document.body.getAttribute("data-sw") === "1") {
      registration().catch(function () {});
    }
    installHint();
    var panel = document.getElementById("sb-push-devices");
    if (panel) { pushPanel(panel); }
    // Signing out clears this device's offline copies (the service worker also does when it sees the sign-out).
    document.querySelectorAll("form[action$='/auth/logout']").forEach(function (form) {
      form.addEventListener("submit", function () {
        if (navigator.serviceWorker && navigator.serviceWorker.controller) {
          navigator.serviceWorker.controller.postMessage({ type: "sign-out" });
        }
        if (window.caches) {
          caches.keys().then(function (keys) { keys.forEach(function (k) { if (k.indexOf("sb-") === 0) { caches.delete(k); } }); });
        }
      });
    });
  });
})();

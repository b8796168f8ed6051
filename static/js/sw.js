// Shiftbridge service worker, served from the root scope as /sw.js (see notifications/pwa.py).
// * Push: shows the notification, tells the server it reached the device, a tap opens the exact page, action
//   buttons ("I'll take it", "Acknowledge") go through the same services as the pages.
// * Offline: My shifts, Open shifts and the calendar links are cached on each visit (network first) and shown offline marked
//   "as of HH:MM". Nothing else is cached as a page: handover and every no-store page are network-only.
// * Signing out clears every cache.
"use strict";

var PAGES = "sb-pages-v1";
var ASSETS = "sb-assets-v1";
// The person's calendar links (/my/calendar) too: they are already shown to them, not in any address, and sign-out
// clears the copy (see rota/feeds/views.py calendar_page).
var OFFLINE_PAGES = ["/my/shifts", "/open-shifts", "/my/calendar"];

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function clearCaches() {
  return caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("sb-") === 0; })
      .map(function (k) { return caches.delete(k); }));
  });
}

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "sign-out") { event.waitUntil(clearCaches()); }
});

function hhmm(ms) {
  var d = new Date(ms);
  return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
}

function cachePage(request, response) {
  // A copy with the time it was fetched; never a page the server said not to store.
  if (!response.ok || /no-store/.test(response.headers.get("Cache-Control") || "")) { return Promise.resolve(); }
  return response.clone().text().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set("X-SB-Cached-At", String(Date.now()));
    return caches.open(PAGES).then(function (c) {
      return c.put(request.url.split("#")[0], new Response(body, { status: 200, headers: headers }));
    });
  });
}

function notOffline() {
  return new Response("<!DOCTYPE html><html lang=en-GB><meta charset=utf-8><title>Offline – Shiftbridge</title>" +
    "<h1 data-testid=offline-none>You are offline</h1><p>This page is not available offline. " +
    "<a href=/my/shifts>My shifts</a>, <a href=/open-shifts>Open shifts</a> and " +
    "<a href=/my/calendar>your calendar links</a> are, as last seen.</p></html>",
    { status: 503, headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" } });
}

function offlineCopy(request) {
  return caches.open(PAGES).then(function (c) { return c.match(request.url.split("#")[0]); }).then(function (hit) {
    if (!hit) { return notOffline(); }
    var at = parseInt(hit.headers.get("X-SB-Cached-At") || "0", 10);
    return hit.text().then(function (body) {
      var banner = '<div class="nhsuk-warning-callout" data-testid="offline-as-of"><p>You are offline. ' +
        "This is how it was at " + hhmm(at) + " (as of " + hhmm(at) + ").</p></div>";
      body = body.replace(/(<main[^>]*>)/, "$1" + banner);
      return new Response(body, { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" } });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var req = event.request;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (req.method === "POST" && url.pathname === "/auth/logout") {
    event.waitUntil(clearCaches());
    return;
  }
  if (req.method !== "GET") { return; }
  if (req.mode === "navigate" && OFFLINE_PAGES.indexOf(url.pathname) !== -1) {
    event.respondWith(fetch(req).then(function (resp) {
      if (resp.redirected || resp.url.indexOf("/auth/login") !== -1) { return resp; }
      event.waitUntil(cachePage(req, resp.clone()));
      return resp;
    }, function () { return offlineCopy(req); }));
    return;
  }
  if (req.mode === "navigate") {
    // Every other page (handover, profile, ...) comes from the network only and is never stored here; offline,
    // a plain "not available offline" page.
    event.respondWith(fetch(req).catch(notOffline));
    return;
  }
  if (url.pathname.indexOf("/static/") === 0 || url.pathname.indexOf("/assets/") === 0) {
    // Stylesheets and scripts: the network when it answers (so a deploy is seen at once), the copy offline.
    event.respondWith(fetch(req).then(function (resp) {
      if (resp.ok) { var copy = resp.clone(); caches.open(ASSETS).then(function (c) { c.put(req, copy); }); }
      return resp;
    }, function () { return caches.match(req); }));
  }
  // Everything else (API calls, images...) is the browser's own business: never cached here.
});

function post(url, body) {
  return fetch(url, { method: "POST", credentials: "same-origin",
                      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { b: event.data ? event.data.text() : "" }; }
  var actions = (data.a || []).map(function (a) { return { action: a[0], title: a[1] }; });
  var shown = self.registration.showNotification(data.t || "Shiftbridge", {
    body: data.b || "", tag: data.g || undefined, data: data, actions: actions,
    icon: "/static/icons/icon-192.png", badge: "/static/icons/icon-192.png", requireInteraction: !!data.r
  });
  var receipt = data.k ? post("/webhooks/push/receipt", { k: data.k, event: "delivered" }).catch(function () {}) :
    Promise.resolve();
  var tell = self.clients.matchAll({ type: "window" }).then(function (list) {
    list.forEach(function (c) { c.postMessage({ type: "push", data: data }); });
  });
  event.waitUntil(Promise.all([shown, receipt, tell]));
});

function openPage(url) {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url.indexOf(self.location.origin) === 0 && "navigate" in list[i]) {
        return list[i].navigate(url).then(function (c) { return c && c.focus(); });
      }
    }
    return self.clients.openWindow(url);
  });
}

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data || {};
  event.notification.close();
  if (event.action && data.k) {
    // A button: the same service as the page's button; the answer is shown as a notification.
    event.waitUntil(post("/webhooks/push/action", { k: data.k, action: event.action }).then(function (r) {
      return r.json();
    }).then(function (answer) {
      return self.registration.showNotification("Shiftbridge", { body: answer.message || "", tag: data.g });
    }).catch(function () { return openPage(data.u || "/"); }));
    return;
  }
  event.waitUntil(openPage(data.u || "/notifications"));
});

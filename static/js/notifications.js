// Notifications: live header badge and toasts on every page, real-time centre (Server-Sent Events, polling fallback), live broadcast report.
(function () {
  "use strict";

  function badge() { return document.querySelector("[data-testid=unread-count]"); }

  function setUnread(n) {
    var b = badge();
    if (b) { b.textContent = String(n); b.hidden = n <= 0; }
    var c = document.querySelector("[data-testid=centre-unread]");
    if (c) { c.textContent = String(n); }
  }

  function currentUnread() {
    var b = badge();
    return b ? parseInt(b.textContent || "0", 10) || 0 : 0;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }

  function addItem(list, n) {
    if (list.querySelector('[data-id="' + n.id + '"]')) { return false; }
    var li = document.createElement("li");
    li.className = "sb-notification sb-notification--unread sb-notification--new";
    li.setAttribute("data-testid", "notification");
    li.setAttribute("data-id", String(n.id));
    var a = document.createElement("a");
    a.className = "sb-notification__text";
    a.href = list.getAttribute("data-open-base") + "/" + n.id + "/open";
    a.textContent = n.text;
    li.appendChild(a);
    var t = document.createElement("span");
    t.className = "nhsuk-body-s sb-notification__time";
    t.textContent = "just now";
    li.appendChild(t);
    list.insertBefore(li, list.firstChild);
    var empty = document.getElementById("sb-empty");
    if (empty) { empty.hidden = true; }
    return true;
  }

  function centre(list) {
    var status = document.getElementById("sb-live-status");
    var lastId = parseInt(list.getAttribute("data-last-id") || "0", 10) || 0;
    var pollTimer = null;

    function received(n) {
      lastId = Math.max(lastId, n.id);
      if (addItem(list, n)) { setUnread(currentUnread() + 1); }
    }

    function poll() {
      getJSON(list.getAttribute("data-poll-url") + "?per_page=50").then(function (page) {
        page.items.slice().reverse().forEach(function (n) { if (n.id > lastId) { received(n); } });
        setUnread(page.unread);
      }).catch(function () {});
    }

    function startPolling() {
      if (pollTimer) { return; }
      if (status) { status.textContent = "Checking every 15 seconds"; }
      pollTimer = window.setInterval(poll, 15000);
    }

    if (!window.EventSource) { startPolling(); return; }
    // The stream may be served from another origin (make run: the stream service on :5001); send the cookie there.
    var es = new EventSource(list.getAttribute("data-stream-url") + "?last_event_id=" + lastId, {withCredentials: true});
    es.addEventListener("open", function () {
      if (status) { status.textContent = "Live"; status.setAttribute("data-live", "1"); }
      if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
    });
    es.addEventListener("notification", function (e) {
      try { received(JSON.parse(e.data)); } catch (err) { /* ignore a malformed event */ }
    });
    es.addEventListener("error", function () {
      // EventSource reconnects by itself (sending Last-Event-ID); poll meanwhile, and for good if it gave up.
      if (status) { status.removeAttribute("data-live"); }
      startPolling();
    });
  }

  function headerPolling() {
    var b = badge();
    if (!b || !b.getAttribute("data-count-url")) { return; }
    window.setInterval(function () {
      getJSON(b.getAttribute("data-count-url")).then(function (page) { setUnread(page.unread); }).catch(function () {});
    }, 30000);
  }

  function toast(n) {
    var box = document.getElementById("sb-toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "sb-toasts";
      box.className = "sb-toasts";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    var a = document.createElement("a");
    a.className = "sb-toast";
    a.setAttribute("data-testid", "toast");
    a.href = (badge().getAttribute("data-open-base") || "/notifications") + "/" + n.id + "/open";
    a.textContent = n.text;
    box.appendChild(a);
    window.setTimeout(function () { if (a.parentNode) { a.parentNode.removeChild(a); } }, 10000);
  }

  // Every other page: the badge and a toast follow the same event stream as the centre (within a second or two of
  // the commit); polling every 30 s only while the stream is down.
  function headerLive() {
    var b = badge();
    var url = b && b.getAttribute("data-stream-url");
    if (!url || !window.EventSource) { headerPolling(); return; }
    var lastId = parseInt(b.getAttribute("data-last-id") || "0", 10) || 0;
    var es = new EventSource(url + "?last_event_id=" + lastId, {withCredentials: true});
    var fallback = null;
    es.addEventListener("open", function () {
      b.setAttribute("data-live", "1");  // the stream is open (tests and styles can tell)
      if (fallback) { window.clearInterval(fallback); fallback = null; }
    });
    es.addEventListener("notification", function (e) {
      var n;
      try { n = JSON.parse(e.data); } catch (err) { return; }
      if (n.id <= lastId) { return; }
      lastId = n.id;
      setUnread(currentUnread() + 1);
      toast(n);
    });
    es.addEventListener("error", function () {
      if (fallback || !b.getAttribute("data-count-url")) { return; }
      fallback = window.setInterval(function () {
        getJSON(b.getAttribute("data-count-url")).then(function (page) { setUnread(page.unread); }).catch(function () {});
      }, 30000);
    });
    window.addEventListener("pagehide", function () { es.close(); });
  }

  function report(el) {
    function refresh() {
      getJSON(el.getAttribute("data-report-url")).then(function (r) {
        var total = document.querySelector("[data-testid=count-recipients]");
        if (total) { total.textContent = String(r.recipient_count); }
        Object.keys(r.counts).forEach(function (k) {
          var c = document.querySelector('[data-count="' + k + '"]');
          if (c) { c.textContent = String(r.counts[k]); }
        });
        r.recipients.forEach(function (p) {
          var row = document.querySelector('#sb-report-rows tr[data-user-id="' + p.user_id + '"]');
          if (!row) { return; }
          row.cells[1].textContent = p.status;
          row.cells[2].textContent = p.sms_state ? p.sms_state + (p.sms_error ? " (" + p.sms_error + ")" : "")
            : (p.sms_skipped ? "not sent: " + p.sms_skipped : "\u2013");
        });
        var state = document.querySelector("[data-testid=broadcast-state]");
        if (state) {  // in words (data-words-<state>, from the server), the raw state kept in data-state
          state.textContent = state.getAttribute("data-words-" + r.broadcast.state) || r.broadcast.state;
          state.setAttribute("data-state", r.broadcast.state);
        }
      }).catch(function () {});
    }
    window.setInterval(refresh, 3000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("sb-notification-list");
    if (list) { centre(list); } else { headerLive(); }
    var rep = document.getElementById("sb-report");
    if (rep) { report(rep); }
  });
})();

// Channels: a channel or thread page follows its channel live (Server-Sent Events carrying post ids only), fetches
// each new or changed post as the viewer may see it, and moves the read position on while the page is open.
(function () {
  "use strict";

  function start(list) {
    var status = document.getElementById("sb-channel-live");
    var mode = list.getAttribute("data-mode");
    var parentId = list.getAttribute("data-parent-id");
    var base = list.getAttribute("data-fragment-base");

    function fetchPost(id) {
      return fetch(base + id + "/fragment", { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          var holder = document.createElement("ul");
          holder.innerHTML = html.trim();
          return holder.firstElementChild;
        });
    }

    function replace(id) {
      var old = document.getElementById("post-" + id);
      if (!old) { return; }
      fetchPost(id).then(function (el) { if (el && old.parentNode) { old.parentNode.replaceChild(el, old); } })
        .catch(function () {});
    }

    function markRead(id) {
      var body = new URLSearchParams();
      body.set("post_id", String(id));
      fetch(list.getAttribute("data-read-url"), { method: "POST", credentials: "same-origin", body: body,
        headers: { "X-CSRFToken": list.getAttribute("data-csrf") } }).catch(function () {});
    }

    function add(id, atTop) {
      if (document.getElementById("post-" + id)) { replace(id); return; }
      fetchPost(id).then(function (el) {
        if (!el || document.getElementById("post-" + id)) { return; }
        el.classList.add("sb-post--new");
        if (atTop) { list.insertBefore(el, list.firstChild); } else { list.appendChild(el); }
        var empty = document.querySelector("[data-testid=no-posts]");
        if (empty) { empty.hidden = true; }
        if (!document.hidden) { markRead(id); }
      }).catch(function () {});
    }

    function refreshAll() {
      Array.prototype.forEach.call(document.querySelectorAll("[data-testid=post]"), function (el) {
        replace(el.getAttribute("data-post-id"));
      });
    }

    // The stream service may be another origin (make run: :5001); send the cookie there.
    var es = new EventSource(list.getAttribute("data-stream-url"), { withCredentials: true });
    function catchUp() {
      // Posts written while the stream was (re)connecting: the newest page, oldest first, any not shown yet.
      if (mode !== "channel" || !list.getAttribute("data-posts-url")) { return; }  // not on an older page
      fetch(list.getAttribute("data-posts-url") + "?limit=20", { credentials: "same-origin",
        headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (page) {
          var shown = Array.prototype.map.call(document.querySelectorAll("#sb-posts > [data-testid=post]"),
            function (el) { return parseInt(el.getAttribute("data-post-id"), 10); });
          var newest = shown.length ? Math.max.apply(null, shown) : 0;
          page.items.slice().reverse().forEach(function (p) { if (p.id > newest) { add(p.id, true); } });
        }).catch(function () {});
    }

    es.addEventListener("open", function () {
      // Catch up on what changed while the stream was (re)connecting: new posts, receipts, reactions, cards.
      catchUp();
      refreshAll();
      if (status) { status.textContent = "Live"; status.setAttribute("data-live", "1"); }
    });
    es.addEventListener("error", function () {
      if (status) { status.textContent = "Reconnecting…"; status.removeAttribute("data-live"); }
    });
    function on(name, fn) {
      es.addEventListener(name, function (e) { try { fn(JSON.parse(e.data)); } catch (err) { /* ignore */ } });
    }
    on("post", function (ev) { if (mode === "channel" && list.getAttribute("data-posts-url")) { add(ev.post_id, true); } });
    on("reply", function (ev) {
      if (mode === "thread" && String(ev.parent_id) === parentId) { add(ev.post_id, false); }
      replace(ev.parent_id);
    });
    on("update", function (ev) { replace(ev.post_id); });
    on("read", function () { refreshAll(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("sb-posts");
    if (list && window.EventSource) { start(list); }
  });
})();

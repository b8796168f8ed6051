// The coordinator's Home: the counts of the broadcasts asking for cover stay live (polled every 5 s while the page
// is visible). Without JavaScript the counts are as of page load; reloading updates them.
(function () {
  "use strict";
  var list = document.querySelector("[data-testid=home-in-flight]");
  if (!list || !window.fetch) return;
  var url = list.getAttribute("data-status-url");
  function refresh() {
    if (document.hidden) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) return;
        body.broadcasts.forEach(function (b) {
          var item = list.querySelector("[data-broadcast-id='" + b.id + "'] [data-testid=home-broadcast-counts]");
          if (item && item.textContent !== b.words) item.textContent = b.words;
        });
      })
      .catch(function () {});
  }
  window.setInterval(refresh, 5000);
})();

// Auto-roster job page: while the run is queued or running, poll the job's JSON once a second and move the progress
// bars; when it finishes, load the page again for the summary. Without scripts the page refreshes itself instead.
(function () {
  "use strict";
  var box = document.getElementById("autoroster-job");
  if (!box || (box.dataset.state !== "queued" && box.dataset.state !== "running")) return;
  var url = box.dataset.poll;
  function set(name, value) {
    var el = box.querySelector('[data-field="' + name + '"]');
    if (el) el.textContent = value;
  }
  function show(job) {
    if (job.state !== "queued" && job.state !== "running") { window.location.reload(); return; }
    var time = document.getElementById("job-time"), places = document.getElementById("job-places");
    if (time) time.value = job.elapsed_seconds;
    if (places) { places.max = job.places || 1; places.value = job.filled; }
    set("elapsed", Math.round(job.elapsed_seconds));
    set("filled", job.filled);
    set("places", job.places);
    set("gaps_left", job.gaps_left);
    set("solutions", job.solutions);
    if (job.state !== box.dataset.state) { window.location.reload(); }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) { if (job) show(job); })
      .catch(function () { /* offline for a moment: try again */ })
      .then(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 1000);
})();

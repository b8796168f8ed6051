"""Prometheus metrics (``prometheus_client``), scraped at ``/metrics``.

Under gunicorn every worker process writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (the gunicorn configs in
``deploy/`` set it up and clean it at start); ``/metrics`` sums them, so any worker answers for the whole node. A
notifications worker on the same machine started with the same ``PROMETHEUS_MULTIPROC_DIR`` adds its sends and
periodic-task runs. Gauges that describe the cluster (outbox depth, oldest pending message) are read from the
database at scrape time by collectors that packages register with :func:`register_collector`.

Metric names and labels never carry personal data: endpoints are Flask endpoint names, never paths (a calendar
feed path is a secret).
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REQUEST_SECONDS = Histogram("shiftbridge_request_seconds", "Time to answer a request, by Flask endpoint",
                            ["endpoint", "method"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10))
SENDS = Counter("shiftbridge_notification_sends_total", "Messages handed to a channel, by outcome",
                ["channel", "outcome"])
OPEN_STREAMS = Gauge("shiftbridge_open_streams", "Notification streams held open", multiprocess_mode="livesum")
SIGN_IN_FAILURES = Counter("shiftbridge_sign_in_failures_total", "Refused sign-ins", ["reason"])
PERIODIC_RUNS = Counter("shiftbridge_periodic_task_runs_total", "Periodic task runs, by outcome",
                        ["task", "outcome"])

_COLLECTORS = "metrics_collectors"


def register_collector(app: Flask, collector) -> None:
    """A prometheus_client collector (``collect()`` yields metric families) run inside an app context at scrape."""
    app.extensions.setdefault(_COLLECTORS, []).append(collector)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    return registry


def _allowed() -> bool:
    allowed = {a.strip() for a in current_app.config.get("METRICS_ALLOW_IPS", "127.0.0.1,::1").split(",")}
    return "*" in allowed or request.remote_addr in allowed


def metrics_view():
    if not _allowed():
        abort(404)
    body = generate_latest(_registry())
    extra = CollectorRegistry(auto_describe=False)
    for collector in current_app.extensions.get(_COLLECTORS, []):
        extra.register(collector)
    body += generate_latest(extra)
    return Response(body, mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _start_timer():
    g.metrics_started = time.perf_counter()


def _observe(response):
    started = g.pop("metrics_started", None)
    if started is not None and request.endpoint != "metrics":
        REQUEST_SECONDS.labels(request.endpoint or "unmatched", request.method).observe(time.perf_counter() - started)
    return response


def register_metrics(app: Flask) -> None:
    app.config.setdefault("METRICS_ALLOW_IPS", os.environ.get("METRICS_ALLOW_IPS", "127.0.0.1,::1"))
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", metrics_view)

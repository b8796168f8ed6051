"""Logging: plain text by default, one JSON object a line with ``LOG_FORMAT=json`` (for a log shipper).

Every record made while a request is being served carries its ``request_id`` (the ``X-Request-ID`` the load balancer
sent, or one made up; the response echoes it), so one request can be followed across the web node's lines. With
``LOG_REQUESTS=1`` each request also writes one line: method, Flask endpoint (never the path: a calendar link's path
is a secret), status and milliseconds.
"""

from __future__ import annotations

import json
import logging
import os
import time

from flask import Flask, g, has_request_context, request

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
access_log = logging.getLogger("shiftbridge.requests")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "") if has_request_context() else ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                 "request_id": getattr(record, "request_id", "") or None, "pid": record.process}
        for key in ("method", "endpoint", "status", "ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, separators=(",", ":"))


def configure(app: Flask) -> None:
    fmt = str(app.config.get("LOG_FORMAT") or os.environ.get("LOG_FORMAT", "text")).lower()
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"), format=TEXT_FORMAT)
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        if fmt == "json" and not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(JsonFormatter())
    if app.config.get("LOG_REQUESTS", os.environ.get("LOG_REQUESTS", "") in ("1", "true", "yes")):
        access_log.disabled = False  # Alembic's fileConfig (flask db upgrade in this process) disables loggers
        app.before_request(_start)
        app.after_request(_log_request)


def _start():
    g.log_started = time.perf_counter()


def _log_request(response):
    started = g.pop("log_started", None)
    if started is not None:
        ms = round((time.perf_counter() - started) * 1000, 1)
        access_log.info("%s %s %s %.1f ms", request.method, request.endpoint, response.status_code, ms,
                        extra={"method": request.method, "endpoint": request.endpoint,
                               "status": response.status_code, "ms": ms})
    return response

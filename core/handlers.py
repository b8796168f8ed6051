"""The one place that turns any error into a response (the error types themselves are in ``core.errors``).

API requests (``/api/``, ``/webhooks/`` or a client that prefers JSON) get RFC 9457 ``application/problem+json``;
browsers get an NHS-styled page. A 500 rolls the session back and never shows a stack trace.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, make_response, render_template, request
from flask_login import AnonymousUserMixin
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError

from core import audit
from core.db import db, is_contention, is_unavailable
from core.errors import PROBLEM_JSON, Busy, DomainError, Forbidden

log = logging.getLogger("core.errors")  # the name these log lines have always had

def wants_problem_json() -> bool:
    if request.path.startswith(("/api/", "/webhooks/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


def problem(status: int, title: str, detail: str | None = None, errors: dict | None = None, **extra):
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    rid = getattr(g, "request_id", None)
    if rid:
        body["request_id"] = rid
    return body


def _flatten_webargs(messages) -> dict:
    """webargs nests field errors under the request location (``json``, ``query``); the API names fields only."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def _respond(status: int, title: str, detail: str | None, errors: dict | None = None, headers=None, **extra):
    if wants_problem_json():

        resp = jsonify(problem(status, title, detail, errors, **extra))
        resp.status_code = status
        resp.mimetype = PROBLEM_JSON
    else:
        html = render_template("errors/error.html", status=status, title=title, detail=detail, errors=errors)

        resp = make_response(html, status)
    if headers:
        for k, v in headers:
            resp.headers[k] = v
    return resp


def handle_domain_error(exc: DomainError):
    db.session.rollback()
    audit.record_carried(exc)
    if isinstance(exc, Forbidden):

        audit.record_refusal(detail=exc.detail)
    headers = [("Retry-After", str(exc.retry_after))] if isinstance(exc, Busy) else None
    return _respond(exc.status, exc.title, exc.detail, exc.errors, headers=headers, **exc.extra)


def handle_http_exception(exc: HTTPException):
    status = exc.code or 500
    errors = None
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and "messages" in data:
        errors = _flatten_webargs(data["messages"])
    detail = exc.description
    if status == 422 and errors:
        detail = "Some of the values you sent are not valid; see errors for each field."
    if status >= 500:
        db.session.rollback()
    if status == 403:
        db.session.rollback()

        audit.record_refusal(detail=detail)
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")]
    if status == 401 and request.path.startswith("/api/"):
        headers.append(("WWW-Authenticate", 'Bearer realm="shiftbridge"'))
    return _respond(status, exc.name, detail, errors, headers=headers)


def handle_unexpected(exc: Exception):
    # The engine runs with hide_parameters=True, so a database error's message does not quote the values sent.
    log.error("unhandled %s on %s %s (request %s)", type(exc).__name__, request.method, request.url_rule,
              getattr(g, "request_id", "-"), exc_info=exc)
    db.session.rollback()
    err = InternalServerError()
    return _respond(500, err.name, "Something went wrong on our side. Nothing was saved; please try again.")


def handle_integrity_error(exc):
    """Last line of defence: services check first and explain; the database still refuses what breaks an invariant
    (a race between two requests), and that is a conflict, not a server error."""
    db.session.rollback()
    text = str(getattr(exc, "orig", exc))
    if "no_overlap_per_person" in text or "23P01" in text:
        detail = ("That person already has a shift at that time (someone else just changed the rota). "
                  "Reload and try again.")
    else:
        detail = "That change conflicts with data saved meanwhile. Reload and try again."
    return _respond(409, "Conflict", detail)


def handle_stale_data(exc):
    db.session.rollback()
    return _respond(409, "Conflict", "Someone else changed this at the same time. Reload to see the latest version.")


RETRY_AFTER_SECONDS = 5


def handle_database_error(exc):
    """A database error: when the database is out (connection killed, failover, refusing connections), 503 with
    Retry-After — nothing was saved and trying again shortly will work (the pool reconnects by itself); when two
    transactions locked each other out and this one was chosen to give way, 409 (try again at once); anything else
    is a 500 as before."""

    if is_contention(exc):  # two requests locked each other out; the database chose this one to give way
        log.info("conflict (%s) on %s %s (request %s): answered 409", type(exc.orig).__name__, request.method,
                 request.url_rule, getattr(g, "request_id", "-"))
        db.session.rollback()
        return _respond(409, "Conflict", "Someone else changed this at the same moment. Nothing was saved; please "
                        "try again.", code="contention")
    if not is_unavailable(exc):
        return handle_unexpected(exc)
    log.warning("database unavailable (%s) on %s %s (request %s): answered 503", type(exc).__name__,
                request.method, request.url_rule, getattr(g, "request_id", "-"))
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001  (its connection is gone: nothing to roll back)
        db.session.close()

    g._login_user = AnonymousUserMixin()  # the page's header must not ask the database who is signed in
    return _respond(503, "Service Unavailable", "The database is briefly unavailable. Nothing was saved; please "
                    "try again in a few seconds.", headers=[("Retry-After", str(RETRY_AFTER_SECONDS))])


def register_error_handlers(app: Flask) -> None:
    app.after_request(audit.write_held)

    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(PoolTimeout, handle_database_error)
    app.register_error_handler(StaleDataError, handle_stale_data)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

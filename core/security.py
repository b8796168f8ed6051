"""Request ids, the client address behind a proxy, CSRF, rate limiting and security headers."""

from __future__ import annotations

import ipaddress
import re
import uuid

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}

# No inline script or style anywhere in our templates; the API docs page (third-party Swagger UI) is the only
# page that needs an inline bootstrap script, so it alone gets a looser policy.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
CSP_DOCS = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'")


# Extension point: callables giving another origin a form may end at (``form-action``), e.g. single sign-out.
FORM_TARGETS = "csp_form_targets"


def _csp() -> str:
    policy = CSP_DOCS if request.path == "/api/v1/docs" else CSP
    extra = " ".join(o for o in (target() for target in current_app.extensions.get(FORM_TARGETS, [])) if o)
    policy = policy.replace("form-action 'self'", f"form-action 'self' {extra}") if extra else policy
    if current_app.config.get("CSP_CONNECT_SRC"):  # e.g. the notification stream service on another origin
        policy += f"; connect-src 'self' {current_app.config['CSP_CONNECT_SRC']}"
    return policy


class ForwardedClient:
    """Werkzeug's ``ProxyFix`` for ``PROXY_FIX`` proxy hops, applied only to requests whose direct peer is listed in
    ``FORWARDED_ALLOW_IPS`` (addresses or networks, ``*`` for any): gunicorn's rule for the same headers. A client
    that reaches the app directly cannot choose its address by sending X-Forwarded-For. Settings are read per
    request so tests (and ``flask run``) can change them."""

    def __init__(self, wsgi_app, config):
        self.wsgi_app = wsgi_app
        self.config = config

    def _trusted(self, peer: str) -> bool:
        allowed = [a.strip() for a in str(self.config.get("FORWARDED_ALLOW_IPS") or "").split(",") if a.strip()]
        if "*" in allowed:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        for entry in allowed:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def __call__(self, environ, start_response):
        hops = int(self.config.get("PROXY_FIX") or 0)
        if hops and self._trusted(environ.get("REMOTE_ADDR", "")):
            return ProxyFix(self.wsgi_app, x_for=hops, x_proto=hops)(environ, start_response)
        return self.wsgi_app(environ, start_response)


def _assign_request_id():
    supplied = request.headers.get("X-Request-ID", "")
    g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex


# A NUL (PostgreSQL text cannot hold one: "PostgreSQL text fields cannot contain NUL") or a lone surrogate (cannot be
# encoded as UTF-8) is never typed text: a request carrying one anywhere we read text from is refused whole.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_DETAIL = ("The request contains characters that cannot be stored (a NUL character or a broken "
                     "character code). Please retype the text and try again.")


def _texts():
    for multi in (request.args, request.form):
        for key, values in multi.lists():
            yield key
            yield from values
    for key, files in request.files.lists():
        yield key
        yield from (f.filename or "" for f in files)
    yield from (v for v in (request.view_args or {}).values() if isinstance(v, str))


def _refuse_unstorable_text():
    """Every form field, query-string parameter, upload file name and URL part, before any view or query sees it:
    400 (an error page for browsers, problem+json for the API) instead of a 500 from the database."""
    if any(_UNSTORABLE.search(text) for text in _texts()):
        from werkzeug.exceptions import BadRequest

        raise BadRequest(description=UNSTORABLE_DETAIL)


def bearer_token(req) -> str | None:
    header = req.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def _csrf_unless_bearer():
    """Forms and cookie-authenticated API calls need a CSRF token; API calls that a bearer token really
    authenticated, and signed webhooks, do not. A junk Authorization header earns nothing."""
    if request.method in SAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if request.path.startswith("/webhooks/"):
        return  # authenticated by the provider's signature instead
    if request.path.startswith("/api/") and bearer_token(request) is not None:
        from flask_login import current_user

        if current_user.is_authenticated and g.get("auth_via_token"):
            return
    csrf.protect()


def no_store(target):
    """Mark a blueprint (every page, API call and error reply it serves) or a single view function: its responses are
    sent with ``Cache-Control: no-store``, whatever the view set, so that nothing patient-identifiable stays in a
    browser's, proxy's or shared computer's cache. Applied by the ``after_request`` hook below."""
    target.no_store = True
    return target


def _must_not_be_stored() -> bool:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return getattr(view, "no_store", False) or any(
        getattr(current_app.blueprints.get(name), "no_store", False) for name in request.blueprints)


def _headers(response):
    response.headers.setdefault("X-Request-ID", g.get("request_id", ""))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = _csp()
    response.headers["Permissions-Policy"] = "camera=(self), geolocation=(), microphone=()"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if _must_not_be_stored():
        response.headers["Cache-Control"] = "no-store"
    elif request.path.startswith(("/api/", "/auth/", "/profile")) and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def register_security(app: Flask) -> None:
    csrf.init_app(app)
    limiter.init_app(app)
    app.before_request(_assign_request_id)
    app.before_request(_refuse_unstorable_text)
    app.before_request(_csrf_unless_bearer)
    app.after_request(_headers)

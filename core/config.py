"""Settings, read from the environment (12-factor); tests pass a mapping to ``create_app``."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from core.timeutil import DEFAULT_ZONE


def _instance_secret(instance_path: str, name: str) -> str:
    """A development secret kept in the instance folder so restarts keep sessions and the audit chain valid.

    Production sets SECRET_KEY and AUDIT_KEY in the environment; this file is only a zero-set-up default.
    """
    path = Path(instance_path) / "secrets.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    if name not in data:
        data[name] = secrets.token_hex(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        path.chmod(0o600)
    return data[name]


def database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Heroku-style URLs name the old driver; Shiftbridge speaks psycopg 3.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://"):]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return url
    return "sqlite:///" + str(Path(instance_path) / "shiftbridge.sqlite3")


# Settings that are whole numbers, read from the environment only when set (DEFAULTS has the value otherwise).
INT_SETTINGS = ("PROXY_FIX", "SESSION_IDLE_MINUTES", "SESSION_ABSOLUTE_MINUTES", "SESSION_WARNING_SECONDS",
                "DEVICE_COOKIE_DAYS", "RESET_LINK_HOURS", "REMEMBER_DEVICE_DAYS", "MAIL_PORT")
# Throttling settings ("5 per 15 minutes"); also only when set.
TEXT_SETTINGS = ("FORWARDED_ALLOW_IPS", "LOGIN_ATTEMPTS", "LOGIN_CLIENT_ATTEMPTS", "LOGIN_ACCOUNT_ATTEMPTS",
                 "LOGIN_ACCOUNT_SLOWDOWN", "MAIL_SERVER", "MAIL_FROM", "MAIL_USERNAME", "MAIL_PASSWORD")


def _optional(env) -> dict:
    found = {name: int(env[name]) for name in INT_SETTINGS if env.get(name, "").strip()}
    found.update({name: env[name] for name in TEXT_SETTINGS if env.get(name, "").strip()})
    return found


def _engine_options(env) -> dict:
    """The connection pool, per process: DB_POOL_SIZE, DB_MAX_OVERFLOW, DB_POOL_TIMEOUT (seconds). The stream
    service (deploy/gunicorn_stream.conf.py) sets a patient timeout: thousands of greenlets share its pool, each for a
    moment, and a reconnect storm should wait its turn rather than fail."""
    options = dict(DEFAULTS["SQLALCHEMY_ENGINE_OPTIONS"])
    for name, key, kind in (("DB_POOL_SIZE", "pool_size", int), ("DB_MAX_OVERFLOW", "max_overflow", int),
                            ("DB_POOL_TIMEOUT", "pool_timeout", float)):
        if env.get(name, "").strip():
            options[key] = kind(env[name])
    return options


def set_defaults(app, defaults: dict) -> None:
    """A package's settings: what the app was given, else the environment (converted to the default's type), else
    the default."""
    for key, value in defaults.items():
        if key not in app.config and os.environ.get(key):
            app.config[key] = type(value)(os.environ[key]) if not isinstance(value, str) else os.environ[key]
        app.config.setdefault(key, value)


def load(instance_path: str) -> dict:
    env = os.environ
    return _optional(env) | {
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(env),
        "SECRET_KEY": env.get("SECRET_KEY") or _instance_secret(instance_path, "SECRET_KEY"),
        "AUDIT_KEY": env.get("AUDIT_KEY") or _instance_secret(instance_path, "AUDIT_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url(instance_path),
        # Unset: links use the address each request came in on (core.links.public_base_url).
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", ""),
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "").lower() in {"1", "true", "yes"},
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "DEFAULT_TIMEZONE": env.get("DEFAULT_TIMEZONE", DEFAULT_ZONE),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        "MAIL_STARTTLS": env.get("MAIL_STARTTLS", "").lower() in {"1", "true", "yes"},
    }


DEFAULTS = {
    # hide_parameters: SQL errors in logs never quote values (passwords hashes, names, NHS numbers).
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "shiftbridge_session",
    "WTF_CSRF_CHECK_DEFAULT": False,  # checked in core.security so bearer-token API calls are exempt
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the server-side session
    "RATELIMIT_HEADERS_ENABLED": True,
    # Password guessing (core/throttle.py, docs/security.md): failed checks per account from one client, per
    # client over all accounts, and per account from clients it does not know (then only a slow lane).
    "LOGIN_ATTEMPTS": "5 per 15 minutes",
    "LOGIN_CLIENT_ATTEMPTS": "10 per 15 minutes",
    "LOGIN_ACCOUNT_ATTEMPTS": "10 per 15 minutes",
    "LOGIN_ACCOUNT_SLOWDOWN": "1 per minute",
    "DEVICE_COOKIE_NAME": "shiftbridge_device",
    "DEVICE_COOKIE_DAYS": 90,  # a browser stays "known" for an account this long after its last sign-in there
    # Reverse proxies in front of the app that append X-Forwarded-For / set X-Forwarded-Proto (0: none), trusted only
    # when the request comes from FORWARDED_ALLOW_IPS (gunicorn's own setting and default, so one value serves both).
    "PROXY_FIX": 0,
    "FORWARDED_ALLOW_IPS": "127.0.0.1,::1",
    # Sign-in sessions on shared ward computers: 15 minutes unused, 12 hours at most; warned 2 minutes before.
    "SESSION_IDLE_MINUTES": 15,
    "SESSION_ABSOLUTE_MINUTES": 12 * 60,
    "SESSION_WARNING_SECONDS": 120,
    "REMEMBER_DEVICE_DAYS": 30,  # "keep me signed in on this device" (a personal phone): no idle limit meanwhile
    "RESET_LINK_HOURS": 24,  # how long a password-reset link from `flask users reset-link` works
    # Outgoing mail (core/mail.py): off unless MAIL_SERVER and MAIL_FROM are set; reset links are then emailed.
    "MAIL_SERVER": "",
    "MAIL_PORT": 25,
    "MAIL_FROM": "",
    "MAIL_STARTTLS": False,
    "MAIL_TIMEOUT_SECONDS": 10,
    "API_TITLE": "Shiftbridge API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/static/vendor/swagger-ui/",
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    "AUDIT_PAGE_SIZE": 50,
}

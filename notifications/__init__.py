"""Notifications: outbox, in-app notification centre, SMS through Twilio, Web Push, broadcasts. Knows nothing of rota.

Other packages use :func:`notifications.service.notify` to tell people things, and register audiences and SMS reply
handlers at start-up (``core.registry.register_audience``, ``register_reply_handler``) so this package never imports
them.
"""

from __future__ import annotations

DEFAULTS = {
    "NOTIFICATIONS_FANOUT": "auto",  # auto | inprocess | postgres | redis
    "NOTIFICATIONS_KEEPALIVE_SECONDS": 15.0,
    "NOTIFICATIONS_STREAM_MAX_SECONDS": 600.0,
    "NOTIFICATIONS_STREAM_SERVICE": 0,  # 1 in the stream service (deploy/gunicorn_stream.conf.py sets it)
    "NOTIFICATIONS_HOLD_STREAMS": "auto",  # auto: hold streams open unless this is a gunicorn web-tier worker
    "NOTIFICATIONS_STREAMS_PER_USER": 6,  # open streams one person may hold per stream process (then 429)
    "NOTIFICATIONS_STREAM_URL": "",  # where browsers open the stream when it is another origin (make run: :5001)
    "NOTIFICATIONS_POLL_SECONDS": 1.0,  # SQLite stream service: how often it reads new notifications
    "NOTIFICATIONS_LEASE_SECONDS": 30.0,  # held per text while it is being sent (3x TWILIO_TIMEOUT_SECONDS)
    "NOTIFICATIONS_RETRY_BASE_SECONDS": 30.0,
    "NOTIFICATIONS_RETRY_CAP_SECONDS": 3600.0,
    "NOTIFICATIONS_MAX_ATTEMPTS": 8,
    "NOTIFICATIONS_DAILY_SMS_CAP": 10,
    "NOTIFICATIONS_PERIODIC_SECONDS": 60.0,  # the worker runs app.extensions["periodic_tasks"] this often
    "NOTIFICATIONS_SEND_CONCURRENCY": 8,  # texts in flight at once per worker (one HTTP session)
    "NOTIFICATIONS_PUSH_CONCURRENCY": 32,  # pushes in flight at once per worker (notifications/push.py)
    "TWILIO_TIMEOUT_SECONDS": 10.0,
    "NOTIFICATIONS_HEARTBEAT_SECONDS": 5.0,  # a running worker writes its heartbeat this often
    "NOTIFICATIONS_WORKER_STALE_SECONDS": 60.0,  # /healthz: no heartbeat for this long = no worker running
    "NOTIFICATIONS_DB_RETRY_CAP_SECONDS": 5.0,  # the worker's longest wait between tries while the database is out
    "NOTIFICATIONS_PROVIDER_RETRY_CAP_SECONDS": 60.0,  # ... and while Twilio cannot be reached
    "NOTIFICATIONS_WEBHOOK_RECEIPT_DAYS": 400,  # how long a signed webhook request is remembered (replay guard)
}


def register(app, api) -> None:
    import os

    from core import config, registry
    from core.web import add_nav_item
    from notifications import api as notifications_api
    from notifications import broadcasts, models, realtime, sms, views, webhooks  # noqa: F401  (models: tables)
    from notifications.cli import notifications_cli

    config.set_defaults(app, DEFAULTS)
    if "REDIS_URL" not in app.config and os.environ.get("REDIS_URL"):
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    sms.load_env_into(app)
    if app.config["NOTIFICATIONS_STREAM_URL"]:  # the browser may connect there (Content-Security-Policy)
        from urllib.parse import urlsplit

        parts = urlsplit(app.config["NOTIFICATIONS_STREAM_URL"])
        app.config.setdefault("CSP_CONNECT_SRC", f"{parts.scheme}://{parts.netloc}")
    register_push(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(webhooks.bp)
    api.register_blueprint(notifications_api.blp)
    app.cli.add_command(notifications_cli)
    from notifications.worker import ESCALATE_TASK

    registry.register_periodic_task(app, ESCALATE_TASK, broadcasts.escalate_due)
    registry.register_periodic_task(app, webhooks.PRUNE_TASK, webhooks.prune_receipts)
    from core.web import HEALTH_CHECKS
    from notifications.worker import health

    app.extensions.setdefault(HEALTH_CHECKS, []).append(("worker", health))
    from core.metrics import register_collector
    from notifications.worker import OutboxCollector

    register_collector(app, OutboxCollector(app))
    app.context_processor(_unread_badge)
    app.jinja_env.globals["stream_service_url"] = realtime.stream_service_url  # where pages open streams
    from core.sso import ACCOUNT_CREATED

    app.extensions.setdefault(ACCOUNT_CREATED, []).append(_tell_admins_about_new_account)
    add_nav_item(app, 80, "Broadcasts", "notifications.broadcast_list",
                 lambda user: user.is_admin or user.is_coordinator)


def register_push(app) -> None:
    """Web Push and the installable app (notifications/push.py, push_first.py, pwa.py)."""
    from core import registry
    from notifications import push, pwa
    from notifications.cli import push_cli

    push.load_env_into(app)
    app.register_blueprint(pwa.bp)
    app.cli.add_command(push_cli)
    app.jinja_env.globals["push_profile"] = pwa.profile_context
    registry.register_profile_section(app, "notifications/push_profile.html")
    app.extensions.setdefault("credential_revokers", []).append(push.forget_all)
    app.extensions.setdefault("session_end_hooks", []).append(push.forget_session)


def _unread_badge():
    from flask_login import current_user

    if not current_user or not current_user.is_authenticated:
        return {}
    from notifications.service import badge

    unread, last_id = badge(current_user.id)
    return {"notifications_unread": unread, "notifications_last_id": last_id}


def _tell_admins_about_new_account(user) -> None:
    """Single sign-on created an account (just-in-time): administrators are told, so someone puts the person in a
    team."""
    from sqlalchemy import select

    from core.accounts import User
    from core.db import db
    from notifications.service import notify

    admins = db.session.scalars(select(User.id).where(User.is_admin.is_(True), User.active.is_(True))).all()
    notify(admins, kind="account.created", link="/admin/users", idempotency_key=f"sso-account-created:{user.id}",
           text=f"{user.display_name} signed in with the trust account for the first time. Their new Shiftbridge "
                "account is in no team yet.")

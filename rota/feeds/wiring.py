"""Wiring of calendar feeds: tables, settings defaults, blueprints, the profile section, the credential revoker and
the log filter that keeps feed tokens out of request logs. Imported only by ``rota.feeds.register``."""

from __future__ import annotations

import logging

from core import registry
from rota import cover, services
from rota.feeds import models as feed_models  # noqa: F401  (registers the tables)
from rota.feeds import stamps  # the session hook that moves the teams' feed stamps
from rota.feeds.api import blp
from rota.feeds.service import DEFAULTS, RedactFeedTokens, revoke_every_feed
from rota.feeds.views import bp, profile_section


def register(app, api) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if stamps.people_stamps not in services.PEOPLE_STAMPS:
        services.PEOPLE_STAMPS.append(stamps.people_stamps)
    if stamps.team_stamps not in cover.TEAM_STAMPS:
        cover.TEAM_STAMPS.append(stamps.team_stamps)
    if stamps.with_team_stamps not in cover.TEAM_STAMP_JOIN:
        cover.TEAM_STAMP_JOIN.append(stamps.with_team_stamps)
    app.register_blueprint(bp)
    api.register_blueprint(blp)
    registry.register_profile_section(app, "rota/feeds/profile.html")
    app.extensions.setdefault("credential_revokers", []).append(revoke_every_feed)
    app.jinja_env.globals["calendar_feeds_section"] = profile_section
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFeedTokens) for f in logger.filters):
            logger.addFilter(RedactFeedTokens())

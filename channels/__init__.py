"""Team channels: the ward's conversation inside governance, joined to the rota.

Imports ``core``, ``rota`` and ``notifications``; nothing imports it. Rota announces open shifts, swaps offered to
everyone and publications through ``core.events``; this package turns them into claimable cards.
"""

from __future__ import annotations

DEFAULTS = {
    "CHANNELS_RETENTION_DAYS": 90,  # a team's default; coordinators may choose their own
    "CHANNELS_HOSPITAL_NUMBER_PATTERN": r"\b[A-Z]{1,3}\d{6,8}\b",  # the trust's hospital (MRN) number format
    "CHANNELS_PAGE_SIZE": 30,
}


def register(app, api) -> None:
    from channels import api as channels_api
    from channels import cards, models, services, views  # noqa: F401  (models registers the tables)
    from core import events
    from core.web import HOME_PANELS, add_nav_item
    from notifications import realtime, register_audience

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    channels_api.register(app, api)
    app.register_blueprint(views.bp)
    add_nav_item(app, 20, "Channels", "channels.index", lambda user: bool(user.team_ids))
    app.extensions.setdefault(HOME_PANELS, []).append(views.unread_panel)
    app.context_processor(views.menu_badge)
    from channels import governance
    from channels.cli import channels_cli

    app.cli.add_command(channels_cli)
    from channels import demo
    from core.cli import DEMO_SEEDERS

    app.extensions.setdefault(DEMO_SEEDERS, []).append((50, "team channel conversation", demo.seed_channels))
    app.extensions.setdefault("periodic_tasks", []).append((governance.PURGE_TASK, governance.purge_expired))
    register_audience("channel", "Everyone in a channel", services.channel_audience)
    realtime.register_poll_source(app, services.poll_new_posts)  # SQLite: the stream service reads new posts
    for name, handler in cards.HANDLERS.items():
        events.subscribe(app, name, handler)

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
    from core import events, registry
    from core.web import add_nav_item

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    channels_api.register(app, api)
    app.register_blueprint(views.bp)
    add_nav_item(app, 20, "Channels", "channels.index", lambda user: bool(user.team_ids))
    registry.register_home_panel(app, views.unread_panel)
    app.context_processor(views.menu_badge)
    from channels import governance
    from channels.cli import channels_cli

    app.cli.add_command(channels_cli)
    from channels import demo

    registry.register_demo_seeder(app, 50, "team channel conversation", demo.seed_channels)
    registry.register_periodic_task(app, governance.PURGE_TASK, governance.purge_expired)
    registry.register_audience(services.CHANNEL_AUDIENCE, "Everyone in a channel", services.channel_audience)
    registry.register_stream_poll_source(app, services.poll_new_posts)  # SQLite: the stream service reads new posts
    for name, handler in cards.HANDLERS.items():
        events.subscribe(app, name, handler)

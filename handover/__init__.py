"""Structured SBAR / I-PASS handover, team patient lists, acknowledgements and FHIR export."""

from __future__ import annotations

from core.limits import IMAGE_CONCURRENCY, IMAGE_MAX_BYTES, IMAGE_MEMORY_MB, IMAGE_WAIT_SECONDS

HANDOVER_DEFAULTS = {
    "HANDOVER_UPLOAD_DIR": None,  # None: <instance>/handover-images (outside the web root)
    "HANDOVER_IMAGE_MAX_BYTES": IMAGE_MAX_BYTES,
    "HANDOVER_IMAGE_MEMORY_MB": IMAGE_MEMORY_MB,  # bigger photos are refused before decoding
    "HANDOVER_IMAGE_CONCURRENCY": IMAGE_CONCURRENCY,  # photos processed at once per worker process; more wait...
    "HANDOVER_IMAGE_WAIT_SECONDS": IMAGE_WAIT_SECONDS,  # ...this long, then get "busy, try again" (503)
    "HANDOVER_RETENTION_DAYS": 30,  # after discharge; then `flask handover purge` blanks clinical content
    "HANDOVER_ACK_MINUTES": 60,  # default for teams that have not chosen their own
}


def register(app, api) -> None:
    from core import registry
    from core.web import add_nav_item
    from handover import acceptance, cli, demo, models, services, views  # noqa: F401  (models registers its tables)
    from handover import api as handover_api

    for key, value in HANDOVER_DEFAULTS.items():
        app.config.setdefault(key, value)
    app.register_blueprint(views.bp)
    handover_api.register(app, api)
    app.cli.add_command(cli.handover_cli)
    add_nav_item(app, 30, "Handover", "handover.index", lambda user: bool(user.team_ids) or user.is_admin)
    registry.register_home_panel(app, views.handovers_panel)
    registry.register_demo_seeder(app, 40, "handover patients", demo.seed_handover)
    # Run by `flask notifications worker` every NOTIFICATIONS_PERIODIC_SECONDS (or cron `flask handover flag-overdue`).
    registry.register_periodic_task(app, acceptance.FLAG_OVERDUE_TASK, acceptance.flag_overdue)

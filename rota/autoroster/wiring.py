"""Wiring of the auto-roster: its tables, API and page blueprints, the worker command, the demo seeder. Imported only
by ``rota.autoroster.register``."""

from __future__ import annotations

from core import registry
from rota.autoroster import api as autoroster_api
from rota.autoroster import (
    jobs,
    models,  # noqa: F401  (registers the table)
    views,
)
from rota.autoroster.cli import autoroster_cli
from rota.autoroster.demo import seed_draft


def register(app, api) -> None:
    app.register_blueprint(views.bp)
    api.register_blueprint(autoroster_api.blp)
    app.cli.add_command(autoroster_cli)
    # the rota periods list (rota/build.html) shows each period's latest run without rota importing this package
    app.jinja_env.globals["autoroster_latest"] = lambda periods: jobs.latest_jobs(p.id for p in periods)
    registry.register_demo_seeder(app, 38, "an auto-rostered draft", seed_draft)

"""Rota: teams' shift types, rotas, shifts, leave, requirements, swaps, open shifts, working-time rules, feeds."""

from __future__ import annotations


def register(app, api) -> None:
    from core.cli import DEMO_SEEDERS
    from core.web import HOME_PANELS
    from rota import demo, views

    app.register_blueprint(views.bp)
    app.extensions.setdefault(DEMO_SEEDERS, []).append((10, "people and teams", demo.seed_people_and_teams))
    app.extensions.setdefault(HOME_PANELS, []).append(views.next_shifts_panel)

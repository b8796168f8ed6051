"""Rota: teams' shift types, rotas, shifts, leave, requirements, swaps, open shifts, working-time rules, feeds.

Each feature module exposes ``register(app, api)``; this list is the only place that knows them all.
"""

from __future__ import annotations

import importlib

FEATURES = ("rota.views", "rota.api", "rota.compliance", "rota.swaps", "rota.feeds", "rota.membership_views",
            "rota.absence", "rota.home")


def register(app, api) -> None:
    from core.cli import DEMO_SEEDERS
    from rota import demo, models  # noqa: F401  (models registers its tables)

    app.extensions.setdefault(DEMO_SEEDERS, []).append((10, "people and teams", demo.seed_people_and_teams))
    for name in FEATURES:
        importlib.import_module(name).register(app, api)

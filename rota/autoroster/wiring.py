"""Wiring of the auto-roster: its API blueprint. Imported only by ``rota.autoroster.register``."""

from __future__ import annotations

from rota.autoroster import api as autoroster_api


def register(app, api) -> None:
    api.register_blueprint(autoroster_api.blp)
